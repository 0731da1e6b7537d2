"""What can be measured on one subject alone: overlap, distances and volumes of input and reconstruction, and the
summaries of the input surface's signed deviation from the normal shape."""

from __future__ import annotations

import numpy as np
import torch
from monai.metrics import compute_dice
from monai.metrics.utils import get_edge_surface_distance

from ..data.geometry import voxel_spacing


def mask_dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two boolean masks (1 when both are empty): the quick overlap a baseline or a twin is judged by."""
    total = a.sum() + b.sum()
    return float(2 * (a & b).sum() / total) if total else 1.0


def reconstruction_metrics(mask, recon, affine) -> dict[str, float]:
    """Dice, HD95, Hausdorff, average symmetric surface distance (mm), volumes (ml) and the volumes of tissue
    outside the reconstruction (extra) or missing from it, as fractions of the input's volume."""
    spacing = voxel_spacing(affine)
    voxel_ml = float(abs(np.linalg.det(np.asarray(affine, dtype=np.float64)[:3, :3]))) / 1000.0
    y, y_pred = torch.as_tensor(mask).bool()[None, None], torch.as_tensor(recon).bool()[None, None]
    volume_in, volume_out = float(y.sum()) * voxel_ml, float(y_pred.sum()) * voxel_ml
    metrics = {"dice": float(compute_dice(y_pred, y, include_background=True, ignore_empty=False)[0, 0])}
    if y_pred.any():
        # both directed surface distances once (MONAI's Hausdorff and average-distance functions would each compute
        # them again), then the same reductions: HD95 and HD as the larger directed percentile, ASD symmetric
        _, distances, _ = get_edge_surface_distance(y_pred[0, 0], y[0, 0], spacing=spacing.tolist(), symmetric=True)
        distances = [d.double() for d in distances]
        metrics["hd95_mm"] = max(float(torch.quantile(d, 0.95)) if d.numel() else 0.0 for d in distances)
        metrics["hausdorff_mm"] = max(float(d.max()) if d.numel() else 0.0 for d in distances)
        metrics["asd_mm"] = float(torch.cat(distances).mean())
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
