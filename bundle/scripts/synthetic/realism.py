"""What makes a manual segmentation harder than a phantom: slice-wise contour jitter, a cut field of view, thick slices.

A rater traces the muscle slice by slice across its long axis. Each traced contour is off by a few percent of the
radius, independently from one slice to the next (``contour_jitter``): its size, its centre and its ellipticity
wobble. The field of view may miss the tendon ends (``fov_cut``: up to that fraction of the muscle's extent is cut
off at each end, at random, and the image ends there). Acquisitions with thick slices (``slice_thickness_mm``)
average the muscle over each slab, so that the labelmap has the partial-volume staircase of a thick-slice scan.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

SUBSLICES_PER_SLAB = 5  # samples across a thick slice when averaging the muscle over the slab


@dataclass(frozen=True)
class SegmentationRealism:
    """Strengths of the segmentation artefacts; all zero (the default) gives the clean phantom."""

    contour_jitter: float = 0.0
    fov_cut: float = 0.0
    slice_thickness_mm: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.contour_jitter <= 0.3:
            raise ValueError(
                f"contour_jitter must lie in [0, 0.3] (a fraction of the radius), got {self.contour_jitter}"
            )
        if not 0.0 <= self.fov_cut < 0.5:
            raise ValueError(f"fov_cut must lie in [0, 0.5) (a fraction of the muscle's extent), got {self.fov_cut}")
        if self.slice_thickness_mm < 0.0 or self.slice_thickness_mm > 20.0:
            raise ValueError(f"slice_thickness_mm must lie in [0, 20] mm, got {self.slice_thickness_mm}")

    @property
    def active(self) -> bool:
        return self.contour_jitter > 0 or self.fov_cut > 0 or self.slice_thickness_mm > 0

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
