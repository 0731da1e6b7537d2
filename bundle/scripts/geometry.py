"""Coordinate frames shared by sampling, fitting and decoding.

Three frames: voxel indices of a grid, world millimetres (RAS, as MONAI's affines give them), and the model frame
``(world - centre) * coordinate_scale`` in which the decoder works. ``centre`` is the subject's centre of mass; the
scale is one number for the whole cohort (never per subject), so that size information is kept.
"""

from __future__ import annotations

import numpy as np
import torch

MIN_SPACING_MM = 1e-3
MAX_SPACING_MM = 50.0


def as_numpy_affine(affine) -> np.ndarray:
    return np.asarray(affine.detach().cpu() if isinstance(affine, torch.Tensor) else affine, dtype=np.float64)


def voxel_spacing(affine) -> np.ndarray:
    """Voxel size (mm) along each array axis: the norms of the affine's columns."""
    return np.linalg.norm(as_numpy_affine(affine)[:3, :3], axis=0)


def voxel_to_world(indices: np.ndarray, affine) -> np.ndarray:
    """Map (possibly fractional) voxel indices ``[..., 3]`` to world mm."""
    aff = as_numpy_affine(affine)
    return indices @ aff[:3, :3].T + aff[:3, 3]


def world_to_voxel(points: np.ndarray, affine) -> np.ndarray:
    aff = np.linalg.inv(as_numpy_affine(affine))
    return points @ aff[:3, :3].T + aff[:3, 3]


def to_model(world: np.ndarray, centre: np.ndarray, coordinate_scale: float) -> np.ndarray:
    return ((world - np.asarray(centre, dtype=np.float64)) * coordinate_scale).astype(np.float32)


def lookup_nearest(mask: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Values of ``mask`` at the nearest voxel of each fractional index; outside the grid counts as background."""
    nearest = np.rint(indices).astype(np.int64)
    shape = np.asarray(mask.shape)
    valid = np.all((nearest >= 0) & (nearest < shape), axis=-1)
    values = np.zeros(indices.shape[:-1], dtype=mask.dtype)
    values[valid] = mask[tuple(nearest[valid].T)]
    return values


def grid_model_coords(shape, affine, centre, coordinate_scale: float, index_slices=None) -> np.ndarray:
    """Model-frame coordinates ``[X, Y, Z, 3]`` of the voxel centres of a grid, or of a sub-block of it.

    ``index_slices`` (three ``slice`` objects with steps) restricts the grid, e.g. to a coarse lattice or one chunk.
    """
    index_slices = index_slices or tuple(slice(0, int(n)) for n in shape)
    axes = [np.arange(int(n))[s] for n, s in zip(shape, index_slices, strict=True)]
    indices = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).astype(np.float64)
    return to_model(voxel_to_world(indices, affine), centre, coordinate_scale)


def check_spacing(affine, source: str) -> np.ndarray:
    """Voxel spacing of ``affine``, or a ValueError naming ``source`` when it is not finite and plausible."""
    aff = as_numpy_affine(affine)
    if not np.all(np.isfinite(aff)):
        raise ValueError(f"{source}: the image geometry (affine) contains NaN or infinite values")
    spacing = voxel_spacing(aff)
    if np.any(spacing < MIN_SPACING_MM) or np.any(spacing > MAX_SPACING_MM):
        raise ValueError(
            f"{source}: voxel spacing {np.round(spacing, 6).tolist()} mm is outside the plausible range "
            f"[{MIN_SPACING_MM}, {MAX_SPACING_MM}] mm (zero, negative or absurd spacing in the header?)"
        )
    if abs(np.linalg.det(aff[:3, :3])) < 1e-12:
        raise ValueError(f"{source}: the image axes are degenerate (singular direction matrix)")
    return spacing
