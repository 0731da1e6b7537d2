"""What of a labelmap is the muscle, and where: label selection, islands and the centre of mass.

Every error names the file it comes from (``loading.source_name``).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import KeepLargestConnectedComponent, MapTransform
from scipy import ndimage

from ..data.geometry import as_numpy_affine, voxel_to_world
from .loading import LabelmapError, source_name


class SelectLabeld(MapTransform):
    """Binarise a labelmap to the muscle given by ``label`` (one value or several, merged), as uint8 {0, 1}.

    Args:
        keys, allow_missing_keys: the labelmap(s) to binarise, and whether one may be absent.
        label: the muscle's value in the user's files, or several values merged into one mask.

    Raises:
        LabelmapError: when called, the labelmap holds none of the values (the message lists those present).
    """

    def __init__(self, keys: KeysCollection, label: int | Sequence[int] = 1, allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.labels = [int(v) for v in np.atleast_1d(label)]

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            image = d[key]
            mask = torch.isin(torch.as_tensor(image).round().to(torch.int64), torch.tensor(self.labels))
            if not mask.any():
                present = torch.unique(torch.as_tensor(image)).tolist()
                shown = ", ".join(f"{v:g}" for v in present[:10]) + (", ..." if len(present) > 10 else "")
                problem = "is empty (no foreground voxel)" if present == [0] else f"has no label {self.labels}"
                raise LabelmapError(f"{source_name(image)}: the labelmap {problem}; values present: {shown}")
            out = mask.to(torch.uint8)
            d[key] = MetaTensor(out, meta=image.meta) if isinstance(image, MetaTensor) else out
        return d


class Islandsd(MapTransform):
    """Report stray islands beside the muscle and, with ``remove``, keep its largest connected part only.

    A segmentation often carries a few voxels disconnected from the muscle (a slip of the brush, a neighbour's
    fragment); they move the centre of mass and are scored as shape. Their number and volume go to ``islands`` and
    ``island_volume_ml`` (reported in the scores whether removed or not). Removal uses MONAI's
    ``KeepLargestConnectedComponent`` (26-connectivity). A muscle smaller than ``min_volume_ml`` (after removal) is
    refused: a mask of a few voxels is not a muscle, and fitting it would only produce a meaningless score.
    A subject segmented on a few slices only (``slices_key``, see ``observation.Observed``) is left as it is: its
    slices are disconnected by design, and its observed volume says nothing of the muscle's; the counts are NaN.

    Args:
        keys, allow_missing_keys: the binary mask(s), and whether one may be absent.
        remove: keep the largest connected part only; False only reports the islands.
        min_volume_ml: the smallest muscle accepted, in ml (after removal).
        count_key, volume_key, slices_key: where the island count and volume (ml) go; the segmented slices' key.

    Raises:
        LabelmapError: when called, the muscle kept is smaller than ``min_volume_ml``.
    """

    def __init__(
        self,
        keys: KeysCollection,
        remove: bool = True,
        min_volume_ml: float = 1.0,
        count_key: str = "islands",
        volume_key: str = "island_volume_ml",
        slices_key: str = "observed_slices",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.remove, self.min_volume_ml = bool(remove), float(min_volume_ml)
        self.count_key, self.volume_key, self.slices_key = count_key, volume_key, slices_key
        self.keep_largest = KeepLargestConnectedComponent(applied_labels=[1], connectivity=3)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        if d.get(self.slices_key) is not None:
            d[self.count_key], d[self.volume_key] = float("nan"), float("nan")
            return d
        for key in self.key_iterator(d):
            image = d[key]
            mask = np.asarray(torch.as_tensor(image)[0].cpu(), dtype=bool)
            voxel_ml = float(abs(np.linalg.det(as_numpy_affine(image.affine)[:3, :3]))) / 1000.0
            labels, count = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
            sizes = np.bincount(labels.ravel())[1:]
            d[self.count_key] = int(count - 1)
            d[self.volume_key] = float((sizes.sum() - sizes.max()) * voxel_ml)
            if self.remove and count > 1:
                d[key] = self.keep_largest(image.clone())  # it works in place
            kept_ml = float((sizes.max() if self.remove else sizes.sum()) * voxel_ml)
            if kept_ml < self.min_volume_ml:
                raise LabelmapError(
                    f"{source_name(image)}: the muscle is {kept_ml:.3g} ml ({int(kept_ml / voxel_ml)} voxels), below "
                    f"the minimum of {self.min_volume_ml:g} ml (min_volume_ml): too small to be a muscle"
                )
        return d


class CentreOnMassd(MapTransform):
    """Record the mask's centre of mass in world mm under ``centre_key``; the decoder's frame is centred on it.

    The image is left untouched: the model frame is derived from world coordinates, so that decoding can later
    target any grid, the input's own included.

    Args:
        keys, allow_missing_keys: the binary mask(s), and whether one may be absent.
        centre_key: where the centre of mass (world mm, float32 ``[3]``) is written.
    """

    def __init__(self, keys: KeysCollection, centre_key: str = "centre", allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.centre_key = centre_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            image = d[key]
            indices = torch.nonzero(torch.as_tensor(image)[0]).to(torch.float64).mean(dim=0).numpy()
            d[self.centre_key] = voxel_to_world(indices, image.affine).astype(np.float32)
        return d
