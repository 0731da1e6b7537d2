"""Coordinate frames shared by sampling, fitting and decoding.

Three frames: voxel indices of a grid, world millimetres (RAS, as MONAI's affines give them), and the model frame
``(world - centre) * coordinate_scale`` in which the decoder works. ``centre`` is the subject's centre of mass; the
scale is one number for the whole cohort (never per subject), so that size information is kept. Observed voxels of
a partial observation move between the input's grid and the model's by nearest neighbour (``transfer_observed``).
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


def _index_map(source_affine, target_affine) -> np.ndarray:
    """The affine taking target voxel indices to (fractional) source voxel indices."""
    return np.linalg.inv(as_numpy_affine(source_affine)) @ as_numpy_affine(target_affine)


def _nearest(indices: np.ndarray, transform: np.ndarray) -> np.ndarray:
    return np.floor(indices @ transform[:3, :3].T + transform[:3, 3] + 0.5).astype(np.int64)  # ties go up


def _axis_permutation(linear: np.ndarray) -> np.ndarray | None:
    """For grids whose axes are parallel (each source axis follows one target axis), the target axis of each source
    axis; None for oblique grids."""
    significant = np.abs(linear) > 1e-6 * np.abs(linear).max(axis=1, keepdims=True)
    if not np.all(significant.sum(axis=1) == 1):
        return None
    axes = np.argmax(significant, axis=1)
    return axes if len(set(axes.tolist())) == 3 else None


def resample_nearest(volume: np.ndarray, source_affine, target_shape, target_affine) -> np.ndarray:
    """``volume`` looked up at the nearest voxel of every target voxel; outside its grid is 0.

    Grids with parallel axes (a reoriented, resampled copy of the same image) are looked up axis by axis; oblique
    ones in row blocks of about a million voxels, which keeps the index arrays small whatever the grid.
    """
    target_shape = tuple(int(n) for n in target_shape)
    transform = _index_map(source_affine, target_affine)
    follows = _axis_permutation(transform[:3, :3])
    if follows is not None:  # source index i = a * (target index along follows[i]) + b, one axis at a time
        picks, inside = [None] * 3, [None] * 3
        for source_axis, target_axis in enumerate(follows):
            along = np.arange(target_shape[target_axis], dtype=np.float64)
            index = np.floor(transform[source_axis, target_axis] * along + transform[source_axis, 3] + 0.5)
            inside[target_axis] = (index >= 0) & (index < volume.shape[source_axis])
            picks[target_axis] = np.clip(index, 0, volume.shape[source_axis] - 1).astype(np.int64)
        order = [int(np.flatnonzero(follows == t)[0]) for t in range(3)]  # the source axis of each target axis
        looked = np.transpose(volume, order)[np.ix_(*picks)]
        keep = inside[0][:, None, None] & inside[1][None, :, None] & inside[2][None, None, :]
        return np.where(keep, looked, 0).astype(volume.dtype)
    out = np.zeros(target_shape, dtype=volume.dtype)
    rows = max(1, 2**20 // max(1, target_shape[1] * target_shape[2]))
    for start in range(0, target_shape[0], rows):
        axes = [np.arange(start, min(start + rows, target_shape[0])), *map(np.arange, target_shape[1:])]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
        nearest = _nearest(grid.reshape(-1, 3).astype(np.float64), transform)
        inside = np.all((nearest >= 0) & (nearest < np.asarray(volume.shape)), axis=1)
        block = np.zeros(len(nearest), dtype=volume.dtype)
        block[inside] = volume[tuple(nearest[inside].T)]
        out[start : start + rows] = block.reshape(grid.shape[:3])
    return out


def transfer_observed(observed, values, source_affine, target_shape, target_affine) -> tuple[np.ndarray, np.ndarray]:
    """Observed voxels and their (binary) values carried to another grid.

    A target voxel is observed when its nearest source voxel is, or when it is the nearest target voxel of an observed
    source voxel, so that a plane one voxel thick survives the move to a finer or to a coarser grid. Its value is that
    of its nearest source voxel, or else the majority of the observed source voxels landing on it.
    """
    target_shape = tuple(int(n) for n in target_shape)
    both = observed.astype(np.uint8) | ((values & observed).astype(np.uint8) << 1)  # one lookup for the two
    looked_both = resample_nearest(both, source_affine, target_shape, target_affine)
    looked, looked_values = (looked_both & 1).astype(bool), (looked_both & 2).astype(bool)
    voxels = np.argwhere(observed)
    landed = _nearest(voxels.astype(np.float64), _index_map(target_affine, source_affine))
    inside = np.all((landed >= 0) & (landed < np.asarray(target_shape)), axis=1)
    flat = np.ravel_multi_index(tuple(landed[inside].T), target_shape)
    hits = np.bincount(flat, minlength=int(np.prod(target_shape))).reshape(target_shape)
    weights = values[tuple(voxels[inside].T)].astype(np.float64)
    filled = np.bincount(flat, weights=weights, minlength=int(np.prod(target_shape))).reshape(target_shape)
    reached = looked | (hits > 0)
    return reached, np.where(looked, looked_values, (hits > 0) & (filled >= 0.5 * hits))


def crop_around(
    masks: list[np.ndarray], affine, margin: int, align: int = 1
) -> tuple[list[np.ndarray | None], np.ndarray]:
    """The masks cut to the box around all their voxels (``margin`` voxels wider, within the grid), and that box's
    affine: what is measured in world coordinates from the masks is unchanged, and computed on far fewer voxels when
    the grid is large around the muscle. ``None`` entries stay None; empty masks leave the grid whole. ``align``
    starts the box on a multiple of it, so that every ``align``-th voxel of the box is one of the whole grid's
    (marching cubes with that step then gives the same mesh)."""
    present = [m for m in masks if m is not None]
    occupied = np.zeros(present[0].shape, dtype=bool)
    for mask in present:
        occupied |= mask
    if not occupied.any():
        return masks, as_numpy_affine(affine)
    low, high = [], []
    for axis in range(3):
        extent = np.flatnonzero(occupied.any(axis=tuple(a for a in range(3) if a != axis)))
        low.append(max(int(extent[0]) - margin, 0) // align * align)
        high.append(min(int(extent[-1]) + margin + 1, occupied.shape[axis]))
    box = tuple(slice(a, b) for a, b in zip(low, high, strict=True))
    cropped = as_numpy_affine(affine).copy()
    cropped[:3, 3] = voxel_to_world(np.asarray(low, dtype=np.float64), affine)
    return [None if m is None else m[box] for m in masks], cropped
