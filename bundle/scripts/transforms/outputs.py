"""What inference writes for each subject beside its scores: where input and normal shape disagree, and the labelmaps
on the input's own grid."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform

from ..data.files import write_labelmap
from ..layout import SubjectFiles
from .postprocessing import OBSERVED_KEY, observed_region

MISSING, EXTRA = 1, 2  # anomaly map labels: tissue the healthy shape has but the input lacks, and the reverse


def scored_input(recon: np.ndarray, anomaly: np.ndarray) -> np.ndarray:
    """The input mask a run scored (after label selection and islands, on the input's grid), read back from the two
    labelmaps it wrote: the reconstruction less what the input lacks, plus what it has in excess."""
    recon, anomaly = np.asarray(recon) > 0, np.asarray(anomaly)
    return (recon & (anomaly != MISSING)) | (anomaly == EXTRA)


class AnomalyMapd(MapTransform):
    """Where input and reconstruction disagree: 1 = missing tissue (expected, absent), 2 = extra tissue.

    Under a partial observation only observed voxels can disagree; the rest of the map is 0.

    Args:
        keys: the input mask and the reconstruction, in that order, both on the input's grid.
        output_key: where the anomaly map is written.
        observed_key: the observed voxels of the input's grid under a partial observation (absent: all observed).
    """

    def __init__(
        self,
        keys: KeysCollection = ("label", "recon"),
        output_key: str = "anomaly_map",
        observed_key: str = OBSERVED_KEY,
    ) -> None:
        super().__init__(keys)
        self.output_key, self.observed_key = output_key, observed_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        mask_key, recon_key = self.keys
        observed = torch.as_tensor(d[mask_key]).bool()
        expected = torch.as_tensor(d[recon_key]).bool()
        region = observed_region(d, self.observed_key)
        if region is not None:
            expected = expected & torch.from_numpy(region)[None]
        labels = torch.zeros(observed.shape, dtype=torch.uint8)
        labels[expected & ~observed] = MISSING
        labels[observed & ~expected] = EXTRA
        d[self.output_key] = MetaTensor(labels, meta=dict(d[mask_key].meta))
        return d


class SaveLabelmapd(MapTransform):
    """Write labelmaps where ``layout.SubjectFiles`` puts them, on the grid of their metadata, atomically.

    Args:
        keys: the labelmaps to write, each to ``<id>_<key><ext>``.
        output_dir: the folder they are written to.
        output_ext: their extension, or ``"auto"`` for each input's format (``layout.SubjectFiles``).
        id_key: the item's subject id, which names the files.
    """

    def __init__(self, keys: KeysCollection, output_dir: str, output_ext: str = ".nii.gz", id_key: str = "id"):
        super().__init__(keys)
        self.files, self.id_key = SubjectFiles(output_dir, output_ext), id_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            image = d[key]
            path = self.files.labelmap(d[self.id_key], str(key), str(image.meta.get("filename_or_obj", "")))
            write_labelmap(np.asarray(torch.as_tensor(image)[0].cpu()), image.affine.cpu().numpy(), path)
        return d
