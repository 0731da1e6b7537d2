"""What changed between two visits of one subject: each score, the fitted code, and the surface, vertex by vertex.

The two visits may come from different positions, orientations and resolutions: the scores and codes are already in
the muscle's own frame (each visit reoriented, resampled and centred as a single visit is), and the surfaces are
compared in world millimetres with each visit centred on its own centre of mass, so that neither the scanner's grid
nor where the muscle lay in it counts as change. The change map is measured between the two *reconstructions*, the
model's smooth restorations of what each rater drew, on the first visit's reconstructed surface: per vertex, the
signed distance (mm) to the second visit's reconstructed surface, negative where the muscle moved inward.
"""

from __future__ import annotations

import math

import numpy as np

from ..data.geometry import voxel_spacing, voxel_to_world
from .deviation import Surface, mask_surface, sample_field, signed_distance

CODE_KEYS = ("code_displacement", "code_displacement_sd", "axis_change")


def score_changes(first: dict, second: dict, names) -> dict[str, float]:
    """``second - first`` for every score in ``names`` that both visits carry as a finite number."""
    changes = {}
    for name in names:
        a, b = first.get(name), second.get(name)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
            if math.isfinite(a) and math.isfinite(b):
                changes[name] = float(b) - float(a)
    return changes


def code_displacement(reference, first_code, second_code) -> dict[str, float]:
    """How far the fitted code moved: its length, its length in healthy spreads along the healthy principal axes
    (``reference.latent``), and its step along the abnormal axis in healthy SDs (towards abnormal: positive) when
    the model has one."""
    codes = np.stack([np.asarray(code, dtype=np.float64).ravel() for code in (first_code, second_code)])
    moved = {"code_displacement": float(np.linalg.norm(codes[1] - codes[0]))}
    latent = reference.latent
    if latent.mean is not None and latent.fit_scale is not None:
        projected = latent.project(codes)
        moved["code_displacement_sd"] = float(np.linalg.norm((projected[1] - projected[0]) / latent.fit_scale.numpy()))
    if reference.axis.ready:
        along = reference.axis.score(codes)
        moved["axis_change"] = float(along[1] - along[0])
    return moved


def centre_of_mass_mm(mask: np.ndarray, affine) -> np.ndarray:
    """The mask's centre of mass in world mm."""
    indices = np.argwhere(np.asarray(mask, dtype=bool))
    if len(indices) == 0:
        raise ValueError("an empty reconstruction has no centre of mass")
    return voxel_to_world(indices.mean(axis=0, keepdims=True), affine)[0]


def change_map(first: np.ndarray, first_affine, second: np.ndarray, second_affine) -> tuple[Surface, np.ndarray]:
    """The first visit's surface (in its world mm, where it overlays the first visit's image) and per vertex the
    signed change (mm) to the second visit's surface, the two centred on their centres of mass: negative inward
    (the muscle lost volume there), positive outward."""
    surface = mask_surface(first, first_affine)
    shift = centre_of_mass_mm(second, second_affine) - centre_of_mass_mm(first, first_affine)
    distance = signed_distance(second, voxel_spacing(second_affine))  # negative inside the second visit
    return surface, -sample_field(distance, second_affine, surface.vertices + shift)


def change_summary(change: np.ndarray, threshold_mm: float) -> dict[str, float]:
    """The map in numbers: the deepest inward and outward change, and the share of the surface beyond
    ``threshold_mm`` either way."""
    return {
        "change_inward_mm": float(max(0.0, -change.min())) if len(change) else 0.0,
        "change_outward_mm": float(max(0.0, change.max())) if len(change) else 0.0,
        "changed_surface_fraction": float(np.mean(np.abs(change) > threshold_mm)) if len(change) else 0.0,
    }
