"""Per-subject postprocessing after a fit: reconstruction on the input's grid and raw scores (``outputs`` writes them).

These run on decollated items in ``SupervisedEvaluator``'s ``postprocessing``. Each item holds the fit (``pred``,
a dict from ``LatentFitInferer``), the input mask on its own grid (``label``, padded at the end by the collate
function until ``CropToSpatialShaped`` restores it) and the centre of mass (``centre``). Scores computed here depend on
the subject alone; their calibration against the healthy reference happens where the scores are written.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform

from ..data.geometry import crop_around, voxel_spacing
from ..engines.decoding import decode_coarse_to_fine, decode_dense
from ..networks.decoder import OccupancyDecoder
from ..networks.ensemble import inside
from ..scoring.deviation import SURFACE_SMOOTHING_MM, ShapeFrame, SurfaceDeviation, vertex_deviation
from ..scoring.metrics import reconstruction_metrics, surface_scores
from ..scoring.sections import flattening_profile

OBSERVED_KEY = "label_observed"  # the observed voxels of the input's grid, under a partial observation


class CropToSpatialShaped(MapTransform):
    """Undo end-padding from ``pad_list_data_collate(method='end')``: crop to ``meta['spatial_shape']``.

    Args:
        keys, allow_missing_keys: MONAI ``MapTransform``'s: the padded images to crop, and whether one may be absent.
    """

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

    Args:
        keys: the fit (a dict holding ``code``, as ``LatentFitInferer`` returns it, or the code itself).
        decoder: the trained decoder (or ensemble); coordinate_scale: model units per mm, the model's frame.
        reference_key, centre_key, output_key: the grid to decode on, the centre of mass (world mm), the result.
        coarse_mm: step in mm of the coarse lattice; 0 or less queries every voxel (``decode_dense``).
        chunk_size: about how many points each decoder call takes, bounding memory.
        bf16: decode under bfloat16 autocast.
    """

    def __init__(
        self,
        keys: KeysCollection,
        decoder: OccupancyDecoder,
        coordinate_scale: float,
        reference_key: str = "label",
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
        def occupied(points: np.ndarray) -> np.ndarray:
            coords = torch.from_numpy(points).to(device)[None]
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=self.bf16):
                logits = self.decoder.decode_points(code, coords)
            return inside(logits[0]).cpu().numpy()

        return occupied

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


def observed_region(data: Mapping, key: str = OBSERVED_KEY) -> np.ndarray | None:
    """The voxels of the input's grid that were observed (``observation.Observed``), or None when all were."""
    region = data.get(key)
    return None if region is None else np.asarray(torch.as_tensor(region)[0].cpu(), dtype=bool)


class ScoreSubjectd(MapTransform):
    """Metrics and raw anomaly scores of one subject as a flat dict under ``output_key`` (one row of scores.csv).

    Besides the overlap and distance metrics, the input's surface is compared with the reconstruction vertex by vertex
    (``deviation.vertex_deviation``): the surface scores summarise it, and the deviation map (``deviation_map_key``,
    mean signed deviation per cell of the shape's own frame) is kept for the normative comparison, as is the flattening
    profile (``profile_key``, ``sections.flattening_profile``: how much flatter than the reconstruction each section
    along the long axis is).

    The compared surfaces are sub-voxel (smoothed by ``smooth_mm``, see ``deviation``) for full masks. Under a partial
    observation (``observed_key``) input and reconstruction are compared on the observed voxels only (the input holds
    nothing else), with the voxels' own surfaces (smoothing would erase a plane one voxel thick); distances are then
    between the observed parts, whose cut faces coincide.
    ``observed_fraction`` is the share of the reconstructed muscle that was observed (1 for a full mask; NaN when
    nothing was reconstructed).

    Args:
        keys: the input mask and the reconstruction, in that order, both on the input's grid.
        pred_key, output_key, id_key: the fit (its ``fit_*`` diagnostics join the row), the row, the subject id.
        deviation_key, deviation_map_key, profile_key: where the vertex deviations, the deviation map and the
            flattening profile are written.
        observed_key: the observed voxels of the input's grid (absent: all observed).
        smooth_mm: Gaussian smoothing (standard deviation, mm) of the compared surfaces of full masks.
    """

    def __init__(
        self,
        keys: KeysCollection = ("label", "recon"),
        pred_key: str = "pred",
        output_key: str = "scores",
        id_key: str = "id",
        deviation_key: str = "deviation",
        deviation_map_key: str = "deviation_map",
        profile_key: str = "flattening_profile",
        observed_key: str = OBSERVED_KEY,
        smooth_mm: float = SURFACE_SMOOTHING_MM,
    ) -> None:
        super().__init__(keys)
        self.pred_key, self.output_key, self.id_key = pred_key, output_key, id_key
        self.observed_key, self.smooth_mm = observed_key, smooth_mm
        self.deviation_key, self.deviation_map_key, self.profile_key = deviation_key, deviation_map_key, profile_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        mask_key, recon_key = self.keys
        row: dict = {"id": str(d.get(self.id_key, "")), "image": str(d[mask_key].meta.get("filename_or_obj", ""))}
        for extra in ("group", "healthy", "fold", "role", "input_sha256", "observed_slices_sha256"):
            if extra in d:
                row[extra] = d[extra]
        for extra in ("islands", "island_volume_ml"):
            if extra in d:
                row[extra] = float(torch.as_tensor(d[extra]))
        mask = np.asarray(torch.as_tensor(d[mask_key])[0].cpu(), dtype=bool)
        recon = np.asarray(torch.as_tensor(d[recon_key])[0].cpu(), dtype=bool)
        whole = recon  # the shape's own frame is that of the whole reconstruction, seen or not
        region = observed_region(d, self.observed_key)
        row["observed_fraction"] = 1.0
        if region is not None:
            row["observed_fraction"] = float((recon & region).sum() / recon.sum()) if recon.any() else float("nan")
            mask, recon = mask & region, recon & region
        # every measurement below is in world coordinates: made on the box around both shapes, wide enough for the
        # distance transforms and the smoothing, it is the same as on the whole grid and much cheaper on a large one
        margin = 2 + int(np.ceil(4 * self.smooth_mm / voxel_spacing(d[mask_key].affine).min()))
        (mask, recon, whole), affine = crop_around([mask, recon, whole], d[mask_key].affine, margin)
        metrics = reconstruction_metrics(mask, recon, affine)
        row.update(metrics)
        row["recon_score"] = 1.0 - metrics["dice"]
        smooth_mm = self.smooth_mm if region is None else 0.0
        surface, deviation = vertex_deviation(mask, recon, affine, smooth_mm=smooth_mm)
        row.update(surface_scores(deviation))
        frame = ShapeFrame.of_mask(whole if whole.any() else mask, affine)
        d[self.deviation_key] = SurfaceDeviation(surface, deviation, frame)
        d[self.deviation_map_key] = d[self.deviation_key].map()
        d[self.profile_key] = flattening_profile(mask, recon, affine, frame)
        fit = d[self.pred_key]
        for name in ("fit_loss", "fit_prior", "fit_point_dice", "fit_stability", "fit_iterations"):
            if name in fit:
                row[name] = float(fit[name])
        d[self.output_key] = row
        return d
