"""What changed between two visits of one subject: each score, the fitted code, and the surface, vertex by vertex.

The two visits may come from different positions, orientations and resolutions: the scores and codes are already in
the muscle's own frame (each visit reoriented, resampled and centred as a single visit is), and the surfaces are
compared in world millimetres once the first visit is rigidly aligned onto the second (``alignment``: from the centres
of mass, the unchanged part of the muscle deciding), so that neither the scanner's grid nor how the patient lay counts
as change. The change map is measured between the two *scored masks* (what each rater drew, after label selection),
not their reconstructions: a reconstruction under the healthy prior restores a healthy shape and so hides the very
change one looks for. Per vertex of the first visit's surface: the signed distance (mm) to the second visit's surface,
negative where the muscle moved inward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from ..data.geometry import voxel_to_world
from .alignment import RigidTransform, align_to_field
from .deviation import Surface, distance_field, mask_surface, sample_field

CODE_KEYS = ("code_displacement", "code_displacement_sd", "axis_change")
# the change map's averaging over the surface (mm): chosen on tuning seed 99's focal dents, thinning and flattening
# (bench/progression.py's localisation), between none (rater jitter decides the largest changes) and 5 mm
MAP_AVERAGING_MM = 3.0


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
        raise ValueError("an empty mask has no centre of mass")
    return voxel_to_world(indices.mean(axis=0, keepdims=True), affine)[0]


@dataclass
class ChangeMap:
    """A pair's change map: the first visit's ``surface`` (world mm), each vertex's signed ``change`` (mm, negative
    inward) and the rigid ``alignment`` of the first visit onto the second; ``lighter`` draws it on a coarser surface
    (for display) without measuring again."""

    surface: Surface
    change: np.ndarray
    alignment: RigidTransform
    first: np.ndarray
    first_affine: np.ndarray

    def lighter(self, step: int) -> tuple[Surface, np.ndarray]:
        """The first visit's surface taken every ``step``-th voxel, each vertex with the change of the nearest vertex
        of the full surface (a coarse surface lies up to a voxel off the full one: measured there, it would show
        that voxel as change)."""
        surface = mask_surface(self.first, self.first_affine, step=step)
        return surface, self.change[cKDTree(self.surface.vertices).query(surface.vertices)[1]]


def surface_average(vertices: np.ndarray, values: np.ndarray, radius_mm: float) -> np.ndarray:
    """Each vertex's value averaged with its neighbours within ``radius_mm`` (Gaussian weights, SD half the radius):
    a rater's slice-by-slice jitter and a voxel surface's terraces average out, a change of that extent stays."""
    if radius_mm <= 0 or len(vertices) == 0:
        return np.asarray(values, dtype=float)
    tree = cKDTree(vertices)
    weights = tree.sparse_distance_matrix(tree, radius_mm, output_type="coo_matrix")
    weights.data = np.exp(-0.5 * (weights.data / (radius_mm / 2.0)) ** 2)
    weights = (weights + sparse.identity(len(vertices))).tocsr()  # the vertex itself (distance 0 is not stored)
    return np.asarray(weights @ np.asarray(values, dtype=float)) / np.asarray(weights.sum(axis=1)).ravel()


def change_map(
    first: np.ndarray,
    first_affine,
    second: np.ndarray,
    second_affine,
    average_mm: float = MAP_AVERAGING_MM,
) -> ChangeMap:
    """The first visit's surface (in its world mm, where it overlays the first visit's image) and per vertex its signed
    change (mm) to the second visit's surface once the first is rigidly aligned onto the second: negative inward (the
    muscle lost volume there), positive outward; averaged over ``average_mm`` of surface (``surface_average``). The
    surfaces are the masks' own (not smoothed sub-voxel as the scores' deviations): the same mask twice changes by
    exactly nothing."""
    first_affine, second_affine = np.asarray(first_affine, dtype=float), np.asarray(second_affine, dtype=float)
    surface = mask_surface(first, first_affine)
    distance = distance_field(second, second_affine)  # negative inside the second visit
    shift = centre_of_mass_mm(second, second_affine) - centre_of_mass_mm(first, first_affine)
    placed = align_to_field(surface.vertices, distance, second_affine, shift)
    change = -sample_field(distance, second_affine, placed.apply(surface.vertices))
    change = surface_average(surface.vertices, change, average_mm)
    return ChangeMap(surface, change, placed, np.asarray(first), first_affine)


def change_summary(change: np.ndarray, threshold_mm: float) -> dict[str, float]:
    """The map in numbers: the deepest inward and outward change, and the share of the surface beyond
    ``threshold_mm`` either way."""
    return {
        "change_inward_mm": float(max(0.0, -change.min())) if len(change) else 0.0,
        "change_outward_mm": float(max(0.0, change.max())) if len(change) else 0.0,
        "changed_surface_fraction": float(np.mean(np.abs(change) > threshold_mm)) if len(change) else 0.0,
    }
