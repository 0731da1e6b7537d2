"""Per-subject postprocessing after a fit: reconstruction on the input's grid, anomaly map, scores, files.

These run on decollated items in ``SupervisedEvaluator``'s ``postprocessing``. Each item holds the fit (``pred``,
a dict from ``LatentFitInferer``), the input mask on its own grid (``mask``, padded at the end by the collate
function until ``CropToSpatialShaped`` restores it) and the centre of mass (``centre``).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from pathlib import Path

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform

from .decoding import decode_coarse_to_fine, decode_dense
from .files import WRITE_SUFFIX, image_suffix, safe_id, write_labelmap
from .networks import OccupancyDecoder
from .scoring import HealthyReference, reconstruction_metrics

MISSING, EXTRA = 1, 2  # anomaly map labels: tissue the healthy shape has but the input lacks, and the reverse


class CropToSpatialShaped(MapTransform):
    """Undo end-padding from ``pad_list_data_collate(method='end')``: crop to ``meta['spatial_shape']``."""

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            image = d[key]
            shape = [int(n) for n in image.meta["spatial_shape"]]
            d[key] = image[:, : shape[0], : shape[1], : shape[2]]
        return d


class DecodeLatentd(MapTransform):
    """Decode the fitted code onto the grid of ``reference_key`` (the input's own grid) as ``output_key``.

    Coarse-to-fine by default (``coarse_mm`` > 0); the field is evaluated in chunks of ``chunk_size`` points.
    """

    def __init__(
        self,
        keys: KeysCollection,
        decoder: OccupancyDecoder,
        coordinate_scale: float,
        reference_key: str = "mask",
        centre_key: str = "centre",
        output_key: str = "recon",
        coarse_mm: float = 4.0,
        chunk_size: int = 131072,
        bf16: bool = False,
    ) -> None:
        super().__init__(keys)
        self.decoder, self.coordinate_scale = decoder, coordinate_scale
        self.reference_key, self.centre_key, self.output_key = reference_key, centre_key, output_key
        self.coarse_mm, self.chunk_size, self.bf16 = coarse_mm, chunk_size, bf16

    def field(self, code: torch.Tensor):
        device = next(self.decoder.parameters()).device
        code = code.to(device=device, dtype=torch.float32).reshape(1, -1)

        @torch.no_grad()
        def inside(points: np.ndarray) -> np.ndarray:
            coords = torch.from_numpy(points).to(device)[None]
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=self.bf16):
                logits = self.decoder.decode_points(code, coords)
            return (logits[0, :, 0] > 0).cpu().numpy()

        return inside

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            code = d[key]["code"] if isinstance(d[key], Mapping) else d[key]
            reference = d[self.reference_key]
            centre = np.asarray(torch.as_tensor(d[self.centre_key]).cpu(), dtype=np.float64)
            decode = decode_coarse_to_fine if self.coarse_mm > 0 else decode_dense
            extra = {"coarse_mm": self.coarse_mm} if self.coarse_mm > 0 else {}
            labels, _ = decode(
                self.field(code),
                reference.shape[1:],
                reference.affine,
                centre,
                self.coordinate_scale,
                chunk_size=self.chunk_size,
                **extra,
            )
            d[self.output_key] = MetaTensor(torch.from_numpy(labels)[None], meta=dict(reference.meta))
        return d


class AnomalyMapd(MapTransform):
    """Where input and reconstruction disagree: 1 = missing tissue (expected, absent), 2 = extra tissue."""

    def __init__(self, keys: KeysCollection = ("mask", "recon"), output_key: str = "anomaly_map") -> None:
        super().__init__(keys)
        self.output_key = output_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        mask_key, recon_key = self.keys
        observed = torch.as_tensor(d[mask_key]).bool()
        expected = torch.as_tensor(d[recon_key]).bool()
        labels = torch.zeros(observed.shape, dtype=torch.uint8)
        labels[expected & ~observed] = MISSING
        labels[observed & ~expected] = EXTRA
        d[self.output_key] = MetaTensor(labels, meta=dict(d[mask_key].meta))
        return d


class ScoreSubjectd(MapTransform):
    """Metrics and anomaly scores of one subject as a flat dict under ``output_key`` (one row of scores.csv).

    With a ``reference`` that holds a latent model, adds the latent distance; once it is calibrated, the
    z-scores, percentiles and decisions.
    """

    def __init__(
        self,
        keys: KeysCollection = ("mask", "recon"),
        reference: HealthyReference | None = None,
        pred_key: str = "pred",
        output_key: str = "scores",
        id_key: str = "id",
    ) -> None:
        super().__init__(keys)
        self.reference, self.pred_key, self.output_key, self.id_key = reference, pred_key, output_key, id_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        mask_key, recon_key = self.keys
        row: dict = {"id": str(d.get(self.id_key, "")), "image": str(d[mask_key].meta.get("filename_or_obj", ""))}
        for extra in ("group", "healthy", "fold"):
            if extra in d:
                row[extra] = d[extra]
        metrics = reconstruction_metrics(d[mask_key][0], d[recon_key][0], d[mask_key].affine)
        row.update(metrics)
        row["recon_score"] = 1.0 - metrics["dice"]
        fit = d[self.pred_key]
        for name in ("fit_loss", "fit_point_dice", "fit_stability", "fit_iterations"):
            row[name] = float(fit[name])
        if self.reference is not None and self.reference.latent_mean is not None:
            row["latent_distance"] = float(self.reference.latent_distance(fit["code"])[0])
            row.update(self.reference.assess(row))
        d[self.output_key] = row
        return d


def output_path(output_dir: str | Path, subject_id: str, key: str, source: str, output_ext: str = ".nii.gz") -> Path:
    """Where a subject's labelmap ``key`` goes: ``<output_dir>/<safe id>_<key><ext>``.

    ``output_ext`` ``"auto"`` keeps the input's own format (a detached ``.mhd`` header becomes ``.mha``).
    """
    ext = WRITE_SUFFIX[image_suffix(source)] if output_ext == "auto" else output_ext
    return Path(output_dir) / f"{safe_id(subject_id)}_{key}{ext}"


class SaveLabelmapd(MapTransform):
    """Write labelmaps at :func:`output_path` on the grid of their metadata, atomically."""

    def __init__(self, keys: KeysCollection, output_dir: str, output_ext: str = ".nii.gz", id_key: str = "id"):
        super().__init__(keys)
        self.output_dir, self.output_ext, self.id_key = Path(output_dir), output_ext, id_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            image = d[key]
            source = str(image.meta.get("filename_or_obj", ""))
            path = output_path(self.output_dir, d[self.id_key], str(key), source, self.output_ext)
            write_labelmap(np.asarray(torch.as_tensor(image)[0].cpu()), image.affine.cpu().numpy(), path)
        return d
