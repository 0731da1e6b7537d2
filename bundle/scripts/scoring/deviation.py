"""Where and how much the input's surface departs from its reconstructed normal shape.

The input's surface is a triangle mesh (scikit-image's marching cubes, vertices in world mm). Each vertex carries the
signed distance, in mm, to the surface of the reconstruction: negative where the input lies inside the normal shape
(tissue missing, e.g. a local atrophy), positive where it lies outside (extra tissue). The distance is read from the
reconstruction's signed distance field by trilinear interpolation.

A binary mask's own boundary runs along voxel faces in terraces, so that a smooth muscle's deviation alternates in
bands of about half a voxel on every subject, healthy ones included. With ``smooth_mm`` > 0 both surfaces are made
sub-voxel first: the mask is lightly smoothed (Gaussian, ``smooth_mm`` standard deviation) before marching cubes takes
its half level, and the reconstruction's distance field is smoothed alike. ``SURFACE_SMOOTHING_MM`` is what scoring
uses: it shrinks the healthy spread of the deviation map by about a tenth (``bench/detection_power.py``).

For comparisons across subjects, vertices are placed in a frame of the reconstructed shape itself: ``t`` runs along
its long axis from one end to the other (0 to 1) and ``phi`` turns around it. A subject's *deviation map* is the mean
signed distance in a fixed grid of ``(t, phi)`` cells; comparing it cell by cell with healthy subjects' maps gives a
normative z-map (see ``scoring.HealthyReference``) that knows where healthy shapes vary and where they do not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..data.geometry import as_numpy_affine, voxel_spacing, voxel_to_world, world_to_voxel

MAP_BINS = (32, 24)  # cells along the long axis, cells around it
SURFACE_SMOOTHING_MM = 0.5  # Gaussian smoothing that makes the compared surfaces sub-voxel (see the module docstring)


def signed_distance(mask: np.ndarray, spacing) -> np.ndarray:
    """Signed distance (mm) of every voxel centre to the mask's boundary, negative inside.

    Distances between voxel centres are shifted by half a voxel so that the zero level lies between the last voxel
    inside and the first outside, where marching cubes puts the surface.
    """
    mask = np.asarray(mask, dtype=bool)
    spacing = np.asarray(spacing, dtype=np.float64)
    half = 0.5 * float(spacing.min())
    if not mask.any():
        return np.full(mask.shape, np.inf)
    outside = ndimage.distance_transform_edt(~mask, sampling=spacing) - half
    inside = ndimage.distance_transform_edt(mask, sampling=spacing) - half
    return np.where(mask, -inside, outside)


@dataclass
class Surface:
    """A triangle mesh in world mm (RAS): ``vertices`` ``[V, 3]``, ``faces`` ``[F, 3]`` (indices)."""

    vertices: np.ndarray
    faces: np.ndarray


def _smoothed(mask: np.ndarray, spacing: np.ndarray, smooth_mm: float) -> np.ndarray:
    """The mask as floats, Gaussian-smoothed by ``smooth_mm`` (in mm, so per axis in voxels) when it is positive."""
    values = np.asarray(mask, dtype=np.float32)
    return ndimage.gaussian_filter(values, sigma=smooth_mm / spacing) if smooth_mm > 0 else values


def mask_surface(mask: np.ndarray, affine, step: int = 1, smooth_mm: float = 0.0) -> Surface:
    """The boundary of a binary mask as a mesh in world coordinates (marching cubes at level 0.5).

    The mask is padded so that a muscle cut by the image border still has a closed surface. ``step`` > 1 samples
    every step-th voxel: a lighter mesh for display. ``smooth_mm`` > 0 takes the half level of the smoothed mask: a
    sub-voxel surface instead of the voxels' terraces.
    """
    from skimage.measure import marching_cubes

    pad = 1 + int(np.ceil(3 * smooth_mm / voxel_spacing(affine).min())) if smooth_mm > 0 else 1
    padded = _smoothed(np.pad(np.asarray(mask, dtype=bool), pad), voxel_spacing(affine), smooth_mm)
    vertices, faces, _, _ = marching_cubes(padded, level=0.5, step_size=step, allow_degenerate=False)
    return Surface(voxel_to_world(vertices - float(pad), affine), faces.astype(np.int64))


def sample_field(field: np.ndarray, affine, points: np.ndarray) -> np.ndarray:
    """Trilinear interpolation of a voxel field at world points (nearest edge value outside the grid)."""
    indices = world_to_voxel(np.asarray(points, dtype=np.float64), affine)
    return ndimage.map_coordinates(field, indices.T, order=1, mode="nearest")


def distance_field(recon: np.ndarray, affine, smooth_mm: float = 0.0) -> np.ndarray:
    """The reconstruction's signed distance field (mm) as ``vertex_deviation`` reads it: smoothed alike with
    ``smooth_mm`` > 0, and as far as the grid allows everywhere when nothing is reconstructed."""
    spacing = voxel_spacing(affine)
    field = signed_distance(recon, spacing)
    if not np.isfinite(field).all():  # nothing reconstructed: every vertex is as far as the grid allows
        return np.full(field.shape, float(np.linalg.norm(np.array(field.shape) * spacing)))
    if smooth_mm > 0:
        return ndimage.gaussian_filter(field, sigma=smooth_mm / spacing, mode="nearest")
    return field


def vertex_deviation(
    mask: np.ndarray, recon: np.ndarray | None, affine, step: int = 1, smooth_mm: float = 0.0, field=None
) -> tuple[Surface, np.ndarray]:
    """The input's surface and, per vertex, its signed distance (mm) to the reconstruction's surface; with
    ``smooth_mm`` > 0 both surfaces are sub-voxel (see the module docstring). ``field``: the reconstruction's
    ``distance_field``, given instead of ``recon`` when several masks are compared with one reconstruction."""
    surface = mask_surface(mask, affine, step, smooth_mm)
    field = distance_field(recon, affine, smooth_mm) if field is None else field
    return surface, sample_field(field, affine, surface.vertices)


@dataclass
class ShapeFrame:
    """Principal axes of a shape: ``centre`` and ``axes`` (rows: long axis, then the two others), ``extent`` of the
    shape along the long axis. Axes point towards +S, +R (the right-handed third follows), so that the frame of
    every subject in RAS space is oriented alike."""

    centre: np.ndarray
    axes: np.ndarray
    extent: tuple[float, float]

    @classmethod
    def of_mask(cls, mask: np.ndarray, affine) -> ShapeFrame:
        points = voxel_to_world(np.argwhere(mask).astype(np.float64), as_numpy_affine(affine))
        centre = points.mean(axis=0)
        _, vectors = np.linalg.eigh(np.cov((points - centre).T))
        long, second = vectors[:, 2], vectors[:, 1]
        long = long * (1.0 if long[2] >= 0 else -1.0)
        second = second * (1.0 if second[0] >= 0 else -1.0)
        axes = np.stack([long, second, np.cross(long, second)])
        along = (points - centre) @ long
        return cls(centre, axes, (float(along.min()), float(along.max())))

    def coordinates(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``t`` in [0, 1] along the long axis (clipped) and ``phi`` in [-pi, pi) around it."""
        local = (np.asarray(points, dtype=np.float64) - self.centre) @ self.axes.T
        low, high = self.extent
        t = np.clip((local[:, 0] - low) / max(high - low, 1e-6), 0.0, 1.0 - 1e-9)
        return t, np.arctan2(local[:, 2], local[:, 1])


def cells(points: np.ndarray, frame: ShapeFrame, bins=MAP_BINS) -> np.ndarray:
    """The ``(t, phi)`` cell of each point, as a flat index into a ``bins`` map."""
    t, phi = frame.coordinates(points)
    rows = (t * bins[0]).astype(int)
    cols = ((phi + np.pi) / (2 * np.pi) * bins[1]).astype(int) % bins[1]
    return rows * bins[1] + cols


def deviation_map(points: np.ndarray, deviation: np.ndarray, frame: ShapeFrame, bins=MAP_BINS) -> np.ndarray:
    """Mean signed deviation (mm) per ``(t, phi)`` cell, NaN where no vertex falls."""
    cell = cells(points, frame, bins)
    total = np.bincount(cell, weights=deviation, minlength=bins[0] * bins[1])
    count = np.bincount(cell, minlength=bins[0] * bins[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total / count).reshape(bins)


@dataclass
class SurfaceDeviation:
    """A subject's surface, the signed deviation of each vertex and the frame of its normal shape."""

    surface: Surface
    deviation: np.ndarray
    frame: ShapeFrame

    def map(self, bins=MAP_BINS) -> np.ndarray:
        return deviation_map(self.surface.vertices, self.deviation, self.frame, bins)
