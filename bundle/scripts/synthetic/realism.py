"""What makes a manual segmentation harder than a phantom: slice-wise contour jitter, a cut field of view, thick slices.

A rater traces the muscle slice by slice across its long axis. Each traced contour is off by a few percent of the
radius, independently from one slice to the next (``contour_jitter``): its size, its centre and its ellipticity
wobble. The field of view may miss the tendon ends (``fov_cut``: up to that fraction of the muscle's extent is cut
off at each end, at random, and the image ends there). Acquisitions with thick slices (``slice_thickness_mm``)
average the muscle over each slab, so that the labelmap has the partial-volume staircase of a thick-slice scan.

Raters also err consistently: one draws every contour outside (``rater_bias_mm`` > 0) or inside (< 0) the boundary,
by the bias times U(0.5, 1.5) for each subject; another rounds the outline off (``rater_smoothing_mm``: the mask
smoothed by a Gaussian of that sigma, then thresholded at one half). Their draws come from a child of the artefact
stream, so that switching them on changes neither the muscles nor the other artefacts of a seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

SUBSLICES_PER_SLAB = 5  # samples across a thick slice when averaging the muscle over the slab
MAX_RATER_BIAS_MM = 5.0
MAX_RATER_SMOOTHING_MM = 10.0


@dataclass(frozen=True)
class SegmentationRealism:
    """Strengths of the segmentation artefacts; all zero (the default) gives the clean phantom."""

    contour_jitter: float = 0.0
    fov_cut: float = 0.0
    slice_thickness_mm: float = 0.0
    rater_bias_mm: float = 0.0
    rater_smoothing_mm: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.contour_jitter <= 0.3:
            raise ValueError(
                f"contour_jitter must lie in [0, 0.3] (a fraction of the radius), got {self.contour_jitter}"
            )
        if not 0.0 <= self.fov_cut < 0.5:
            raise ValueError(f"fov_cut must lie in [0, 0.5) (a fraction of the muscle's extent), got {self.fov_cut}")
        if self.slice_thickness_mm < 0.0 or self.slice_thickness_mm > 20.0:
            raise ValueError(f"slice_thickness_mm must lie in [0, 20] mm, got {self.slice_thickness_mm}")
        if not -MAX_RATER_BIAS_MM <= self.rater_bias_mm <= MAX_RATER_BIAS_MM:
            raise ValueError(
                f"rater_bias_mm must lie in [-{MAX_RATER_BIAS_MM:g}, {MAX_RATER_BIAS_MM:g}] mm (+: outside), "
                f"got {self.rater_bias_mm}"
            )
        if not 0.0 <= self.rater_smoothing_mm <= MAX_RATER_SMOOTHING_MM:
            raise ValueError(
                f"rater_smoothing_mm must lie in [0, {MAX_RATER_SMOOTHING_MM:g}] mm, got {self.rater_smoothing_mm}"
            )

    @property
    def active(self) -> bool:
        return any(value != 0 for value in asdict(self).values())

    def rater_offset(self, rng: np.random.Generator) -> float:
        """One subject's contour offset (mm), from a child of the artefact stream ``rng`` (whose draws it keeps)."""
        if not self.rater_bias_mm:
            return 0.0
        return float(self.rater_bias_mm * rng.spawn(1)[0].uniform(0.5, 1.5))

    def to_dict(self) -> dict:
        return asdict(self)


class SliceJitter:
    """Per-slice contour error of a rater: slice ``k`` has its own radial scale, offset and ellipticity.

    ``limit_change(slice_index, phi, half_width)`` is added to the radial limit of the muscle's cross-section (1 at
    the clean contour): a relative change of the radius, as a function of the polar angle ``phi``.
    """

    def __init__(self, num_slices: int, jitter: float, rng: np.random.Generator) -> None:
        self.scale = rng.normal(0.0, jitter, num_slices)
        self.shift = rng.normal(0.0, 0.5 * jitter, (num_slices, 2))  # centre offset, fraction of the radius
        self.ellipse = rng.normal(0.0, 0.5 * jitter, num_slices)
        self.ellipse_phase = rng.uniform(0.0, np.pi, num_slices)

    def limit_change(self, slice_index: np.ndarray, phi: np.ndarray) -> np.ndarray:
        k = np.clip(slice_index, 0, len(self.scale) - 1)
        offset = self.shift[k, 0] * np.cos(phi) + self.shift[k, 1] * np.sin(phi)
        return self.scale[k] + offset + self.ellipse[k] * np.cos(2 * (phi - self.ellipse_phase[k]))


def slab_offsets(thickness_mm: float) -> np.ndarray:
    """Positions (mm, relative to the slice centre) at which a thick slice samples the muscle."""
    return (np.arange(SUBSLICES_PER_SLAB) + 0.5) / SUBSLICES_PER_SLAB * thickness_mm - 0.5 * thickness_mm


def fov_window(mask: np.ndarray, fov_cut: float, rng: np.random.Generator) -> tuple[int, int]:
    """Slices ``[first, last)`` along the last axis kept by a field of view that misses up to ``fov_cut`` of the
    muscle's extent at each end (drawn uniformly per end). Without a cut, the whole grid."""
    if fov_cut <= 0:
        return 0, mask.shape[2]
    occupied = np.flatnonzero(mask.any(axis=(0, 1)))
    extent = occupied[-1] - occupied[0] + 1
    low, high = (int(np.floor(rng.uniform(0.0, fov_cut) * extent)) for _ in range(2))
    return int(occupied[0] + low), int(occupied[-1] + 1 - high)


def smooth_outline(mask: np.ndarray, spacing, sigma_mm: float) -> np.ndarray:
    """A rater's rounded outline: ``mask`` smoothed by a Gaussian of ``sigma_mm`` (per axis in voxels of
    ``spacing``), thresholded at one half. Outside the grid counts as background."""
    if sigma_mm <= 0:
        return mask
    sigma = [sigma_mm / float(step) for step in spacing]
    return ndimage.gaussian_filter(mask.astype(np.float32), sigma, mode="constant", cval=0.0) >= 0.5
