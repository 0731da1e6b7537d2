"""Per-subject postprocessing after a fit: reconstruction on the input's grid and raw scores (``calibrate`` judges
them against the healthy reference, ``outputs`` writes them).

These run on decollated items in ``SupervisedEvaluator``'s ``postprocessing``. Each item holds the fit (``pred``,
a dict from ``LatentFitInferer``), the input mask on its own grid (``label``, padded at the end by the collate
function until ``CropToSpatialShaped`` restores it) and the centre of mass (``centre``). Scores computed here depend on
the subject alone; ``calibrate.CalibrateScoresd`` judges them against the healthy reference next.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform

from ..engines.decoding import decode_coarse_to_fine, decode_dense
from ..networks.decoder import OccupancyDecoder
from ..networks.ensemble import inside
from ..scoring.deviation import SURFACE_SMOOTHING_MM
from ..scoring.subject import score_subject

SHIFT_KEY = "fit_shift_mm"  # how far a partial observation's fit moved the shape from its centre of mass, mm
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
        keys: the fit (a dict holding ``code``, as ``LatentFitInferer`` returns it, or the code itself); a fitted
            ``translation`` (model units) moves the decoded shape by it, and its length in mm is written under
            ``fit_shift_mm`` (a row's column).
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
            if isinstance(d[key], Mapping) and "translation" in d[key]:  # the decoder saw points + shift
                shift_mm = (
                    np.asarray(torch.as_tensor(d[key]["translation"]).cpu(), dtype=np.float64) / self.coordinate_scale
                )
                centre = centre - shift_mm.reshape(3)
                d[SHIFT_KEY] = float(np.linalg.norm(shift_mm))
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
    """One subject's row of scores.csv under ``output_key``: its identity, the metrics and subject scores of
    ``scoring.subject.score_subject`` and the fit's diagnostics; its vertex deviations, deviation map and flattening
    profile under their keys, for the reference scores, the meshes and the calibration.

    Args:
        keys: the input mask and the reconstruction, in that order, both on the input's grid.
        pred_key, output_key, id_key: the fit (its ``fit_*`` diagnostics join the row), the row, the subject id.
        deviation_key, deviation_map_key, profile_key: where the vertex deviations, the deviation map and the
            flattening profile are written.
        observed_key: the observed voxels of the input's grid (absent: all observed).
        smooth_mm: Gaussian smoothing (standard deviation, mm) of the compared surfaces of full masks.
    """

    IDENTITY = ("group", "healthy", "fold", "role", "input_sha256", "observed_slices_sha256")
    FIT = ("fit_loss", "fit_prior", "fit_point_dice", "fit_stability", "fit_iterations")

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
        row.update({key: d[key] for key in self.IDENTITY if key in d})
        row.update(
            {key: float(torch.as_tensor(d[key])) for key in ("islands", "island_volume_ml", SHIFT_KEY) if key in d}
        )
        mask = np.asarray(torch.as_tensor(d[mask_key])[0].cpu(), dtype=bool)
        recon = np.asarray(torch.as_tensor(d[recon_key])[0].cpu(), dtype=bool)
        measured = score_subject(mask, recon, d[mask_key].affine, observed_region(d, self.observed_key), self.smooth_mm)
        row.update(measured.row)
        d[self.deviation_key], d[self.deviation_map_key] = measured.deviation, measured.deviation_map
        d[self.profile_key] = measured.flattening_profile
        row.update({name: float(d[self.pred_key][name]) for name in self.FIT if name in d[self.pred_key]})
        d[self.output_key] = row
        return d
