"""How flat the muscle is, section by section along its long axis, compared with its restored normal shape.

Atrophy thins a muscle more than it narrows it (muscle thickness is the ultrasound marker of sarcopenia), so a
sarcopenic muscle's cross-sections are flatter than those of the healthy shape that best explains it. In the frame of
the reconstruction (``deviation.ShapeFrame``: long axis, then the width and thickness directions), each of ``SECTIONS``
equal sections gets its aspect, the log of the spread of its voxels across the thickness over their spread across the
width; the *flattening profile* is the input's aspect minus the reconstruction's, section by section (negative where
the input is flatter than its normal shape). Spreads are moments of many voxels, so the profile is little moved by a
rater's slice-wise contour errors, which make the surface itself noisy.
"""

from __future__ import annotations

import numpy as np

from ..data.geometry import as_numpy_affine, voxel_to_world
from .deviation import ShapeFrame

SECTIONS = 16
MIN_VOXELS = 20  # a section with fewer voxels of either shape is not measured (NaN)


def section_aspects(mask: np.ndarray, affine, frame: ShapeFrame, sections: int = SECTIONS) -> np.ndarray:
    """``log(thickness spread / width spread)`` of the mask's voxels in each section of ``frame`` (NaN if too few)."""
    points = voxel_to_world(np.argwhere(mask).astype(np.float64), as_numpy_affine(affine))
    if len(points) == 0:
        return np.full(sections, np.nan)
    t, _ = frame.coordinates(points)
    local = (points - frame.centre) @ frame.axes[1:].T  # width, thickness
    section = np.minimum((t * sections).astype(int), sections - 1)
    count = np.bincount(section, minlength=sections).astype(np.float64)
    spreads = []
    for axis in range(2):
        total = np.bincount(section, weights=local[:, axis], minlength=sections)
        squares = np.bincount(section, weights=local[:, axis] ** 2, minlength=sections)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / count
            spreads.append(np.sqrt(np.maximum(squares / count - mean**2, 0.0)))
    with np.errstate(invalid="ignore", divide="ignore"):
        aspect = np.log(spreads[1] / spreads[0])
    aspect[(count < MIN_VOXELS) | ~np.isfinite(aspect)] = np.nan
    return aspect


def flattening_profile(mask: np.ndarray, recon: np.ndarray, affine, frame: ShapeFrame) -> np.ndarray:
    """The input's section aspects minus the reconstruction's (negative: flatter than the normal shape)."""
    return section_aspects(mask, affine, frame) - section_aspects(recon, affine, frame)
