"""One subject measured against its reconstruction, on arrays alone: what every score starts from.

The input's surface is compared with the reconstruction vertex by vertex (``deviation.vertex_deviation``): the surface
scores summarise it, and the deviation map (mean signed deviation per cell of the shape's own frame) is kept for the
normative comparison, as is the flattening profile (``sections.flattening_profile``). The compared surfaces are
sub-voxel (smoothed by ``smooth_mm``) for full masks. Under a partial observation (``observed``) input and
reconstruction are compared on the observed voxels only (the input holds nothing else), with the voxels' own surfaces
(smoothing would erase a plane one voxel thick); ``observed_fraction`` is the share of the reconstructed muscle that
was observed (1 for a full mask; NaN when nothing was reconstructed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.geometry import crop_around, voxel_spacing
from .deviation import SURFACE_SMOOTHING_MM, ShapeFrame, SurfaceDeviation, vertex_deviation
from .metrics import reconstruction_metrics, surface_scores
from .scores import subject_scores
from .sections import flattening_profile


@dataclass
class SubjectMeasures:
    """A subject's row of metrics and subject scores, its vertex deviations, deviation map and flattening profile."""

    row: dict
    deviation: SurfaceDeviation
    deviation_map: np.ndarray
    flattening_profile: np.ndarray


def score_subject(
    mask: np.ndarray, recon: np.ndarray, affine, observed: np.ndarray | None = None, smooth_mm=SURFACE_SMOOTHING_MM
) -> SubjectMeasures:
    """Metrics, subject scores and regional measures of ``mask`` against ``recon`` (both on one grid of ``affine``),
    on the ``observed`` voxels only when given."""
    mask, recon = np.asarray(mask, dtype=bool), np.asarray(recon, dtype=bool)
    whole = recon  # the shape's own frame is that of the whole reconstruction, seen or not
    row = {"observed_fraction": 1.0}
    if observed is not None:
        row["observed_fraction"] = float((recon & observed).sum() / recon.sum()) if recon.any() else float("nan")
        mask, recon = mask & observed, recon & observed
    # every measurement below is in world coordinates: made on the box around both shapes, wide enough for the
    # distance transforms and the smoothing, it is the same as on the whole grid and much cheaper on a large one
    margin = 2 + int(np.ceil(4 * smooth_mm / voxel_spacing(affine).min()))
    (mask, recon, whole), affine = crop_around([mask, recon, whole], affine, margin)
    row.update(reconstruction_metrics(mask, recon, affine))
    surface, deviation = vertex_deviation(mask, recon, affine, smooth_mm=smooth_mm if observed is None else 0.0)
    row.update(surface_scores(deviation))
    row.update(subject_scores(row))
    frame = ShapeFrame.of_mask(whole if whole.any() else mask, affine)
    measured = SurfaceDeviation(surface, deviation, frame)
    return SubjectMeasures(row, measured, measured.map(), flattening_profile(mask, recon, affine, frame))
