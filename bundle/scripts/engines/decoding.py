"""Decoding an implicit shape onto any voxel grid, typically the input file's own grid.

``field(points) -> inside`` maps model-frame points ``[N, 3]`` (float32) to booleans; the decoders below query it in
bounded chunks. ``decode_coarse_to_fine`` evaluates a coarse lattice and refines only the cells whose corners
disagree (and their neighbours), halving the step until it reaches one voxel, so that the number of queries grows
with the surface of the shape rather than with the volume of the grid.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from ..data.geometry import grid_model_coords, to_model, voxel_spacing, voxel_to_world

Field = Callable[[np.ndarray], np.ndarray]
UNKNOWN = -1


def decode_dense(field: Field, shape, affine, centre, coordinate_scale: float, chunk_size: int = 262144):
    """Query every voxel centre; returns the uint8 labelmap and the number of queries."""
    shape = tuple(int(n) for n in shape)
    out = np.zeros(shape, dtype=np.uint8)
    rows_per_chunk = max(1, chunk_size // (shape[1] * shape[2]))
    for start in range(0, shape[0], rows_per_chunk):
        block = (slice(start, min(start + rows_per_chunk, shape[0])), slice(0, shape[1]), slice(0, shape[2]))
        coords = grid_model_coords(shape, affine, centre, coordinate_scale, block)
        out[block] = field(coords.reshape(-1, 3)).reshape(coords.shape[:3])
    return out, int(np.prod(shape))


def coarse_steps(affine, coarse_mm: float) -> np.ndarray:
    """Per-axis coarse step in voxels: the largest power of two not exceeding ``coarse_mm`` in that axis."""
    spacing = voxel_spacing(affine)
    return 2 ** np.floor(np.log2(np.maximum(coarse_mm / spacing, 1.0))).astype(int)


def _evaluate(field: Field, occupancy: np.ndarray, indices: np.ndarray, affine, centre, scale, chunk_size: int):
    for start in range(0, len(indices), chunk_size):
        chunk = indices[start : start + chunk_size]
        coords = to_model(voxel_to_world(chunk.astype(np.float64), affine), centre, scale)
        occupancy[tuple(chunk.T)] = field(coords)


def _expand(cells: np.ndarray, steps, padded_shape) -> np.ndarray:
    """Repeat a per-cell array to voxel resolution; the far faces take the value of the last cell."""
    out = np.pad(cells, [(0, 1)] * 3, mode="edge")
    for axis, step in enumerate(steps):
        out = np.repeat(out, step, axis=axis)
    return out[: padded_shape[0], : padded_shape[1], : padded_shape[2]]


def decode_coarse_to_fine(
    field: Field, shape, affine, centre, coordinate_scale: float, coarse_mm: float = 4.0, chunk_size: int = 262144
):
    """Coarse-to-fine decoding; returns the uint8 labelmap and the number of queries.

    The grid is padded (virtually) to a whole number of coarse cells; lattice nodes beyond the grid are queried
    like any other point and cropped at the end.
    """
    shape = np.array([int(n) for n in shape])
    steps = coarse_steps(affine, coarse_mm)
    padded = (np.ceil(np.maximum(shape - 1, 1) / steps) * steps + 1).astype(int)
    occupancy = np.full(padded, UNKNOWN, dtype=np.int8)
    queries = 0
    while True:
        lattice = occupancy[:: steps[0], :: steps[1], :: steps[2]]
        todo = np.argwhere(lattice == UNKNOWN) * steps
        _evaluate(field, occupancy, todo, affine, centre, coordinate_scale, chunk_size)
        queries += len(todo)
        if np.all(steps == 1):
            break
        lattice = occupancy[:: steps[0], :: steps[1], :: steps[2]]
        corners = [
            lattice[i : lattice.shape[0] - 1 + i, j : lattice.shape[1] - 1 + j, k : lattice.shape[2] - 1 + k]
            for i in (0, 1)
            for j in (0, 1)
            for k in (0, 1)
        ]
        mixed = np.minimum.reduce(corners) != np.maximum.reduce(corners)
        # Neighbours of mixed cells are refined too while cells are large, where a thin part of the shape could
        # slip between lattice nodes; cells of two voxels or less cannot hide one.
        refine = ndimage.binary_dilation(mixed, np.ones((3, 3, 3), dtype=bool)) if steps.max() > 2 else mixed
        fill = _expand(np.where(refine, UNKNOWN, corners[0]).astype(np.int8), steps, padded)
        settle = (occupancy == UNKNOWN) & (fill != UNKNOWN)
        occupancy[settle] = fill[settle]
        steps = np.maximum(steps // 2, 1)
    return occupancy[: shape[0], : shape[1], : shape[2]].astype(np.uint8), queries
