"""What can be measured on one subject alone: overlap, distances and volumes of input and reconstruction, and the
summaries of the input surface's signed deviation from the normal shape."""

from __future__ import annotations

import numpy as np
import torch
from monai.metrics import compute_average_surface_distance, compute_dice, compute_hausdorff_distance

from .geometry import voxel_spacing


def reconstruction_metrics(mask, recon, affine) -> dict[str, float]:
    """Dice, HD95, Hausdorff, average symmetric surface distance (mm), volumes (ml) and the volumes of tissue
    outside the reconstruction (extra) or missing from it, as fractions of the input's volume."""
    spacing = voxel_spacing(affine)
    voxel_ml = float(abs(np.linalg.det(np.asarray(affine, dtype=np.float64)[:3, :3]))) / 1000.0
    y, y_pred = torch.as_tensor(mask).bool()[None, None], torch.as_tensor(recon).bool()[None, None]
    volume_in, volume_out = float(y.sum()) * voxel_ml, float(y_pred.sum()) * voxel_ml
    metrics = {"dice": float(compute_dice(y_pred, y, include_background=True, ignore_empty=False)[0, 0])}
    if y_pred.any():
        spacing_list = spacing.tolist()
        metrics["hd95_mm"] = float(compute_hausdorff_distance(y_pred, y, percentile=95, spacing=spacing_list)[0, 0])
        metrics["hausdorff_mm"] = float(compute_hausdorff_distance(y_pred, y, spacing=spacing_list)[0, 0])
        metrics["asd_mm"] = float(
            compute_average_surface_distance(y_pred, y, symmetric=True, spacing=spacing_list)[0, 0]
        )
    else:  # nothing reconstructed: the distances are undefined, the shape is as far as it can be
        metrics.update(hd95_mm=float("inf"), hausdorff_mm=float("inf"), asd_mm=float("inf"))
    metrics.update(
        volume_input_ml=volume_in,
        volume_recon_ml=volume_out,
        volume_error_ml=volume_out - volume_in,
        volume_error_pct=100.0 * (volume_out - volume_in) / volume_in,
        extra_fraction=float((y & ~y_pred).sum()) * voxel_ml / volume_in,
        missing_fraction=float((y_pred & ~y).sum()) * voxel_ml / volume_in,
    )
    return metrics


def surface_scores(deviation: np.ndarray) -> dict[str, float]:
    """Summaries of the input surface's signed deviation from the normal shape (mm, negative = tissue missing)."""
    deviation = np.asarray(deviation, dtype=np.float64)
    return {
        "inward_depth_mm": float(np.percentile(-deviation, 99)),
        "outward_height_mm": float(np.percentile(deviation, 99)),
        "mean_abs_deviation_mm": float(np.abs(deviation).mean()),
    }
