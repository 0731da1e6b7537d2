"""The image around a synthetic muscle: its pose, the voxel grid that holds it, its neighbours, its mid-section."""

from __future__ import annotations

import numpy as np

from .healthy import displacement_reach
from .shape import MuscleShape

# Neighbours in multi-label output: a deeper muscle NEIGHBOUR_GAP_MM behind the muscle's centre plane, then a femur.
NEIGHBOUR_GAP_MM = 12.0
FEMUR_RADIUS_MM = 9.0
NEIGHBOUR_EXTENT_MM = NEIGHBOUR_GAP_MM + 18.0 + FEMUR_RADIUS_MM


def rotation_matrix(angles_deg: tuple[float, float, float]) -> np.ndarray:
    """The pose of a muscle: rotations about x, then y, then z (degrees)."""
    ax, ay, az = np.deg2rad(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def bounding_half_extent(shape: MuscleShape) -> np.ndarray:
    """Half extent (mm) of a box around the muscle in its posed orientation, before any margin."""
    half = displacement_reach(shape) + np.array(
        [
            0.5 * shape.width * 1.3 + abs(shape.bend_lateral),
            0.5 * shape.thickness * 1.3 + abs(shape.bend_anterior),
            0.5 * shape.length,
        ]
    )
    corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * half
    return np.abs(corners @ rotation_matrix(shape.rotation_deg).T).max(axis=0)


def world_grid(
    shape: MuscleShape, spacing: tuple[float, float, float], margin_mm: float = 8.0, posterior_extension_mm: float = 0.0
):
    """Voxel-centre coordinates ``[X, Y, Z, 3]`` (mm, RAS) of a grid around the muscle, and the grid's 4x4 affine.

    ``posterior_extension_mm`` widens the field of view behind the muscle, where the neighbour structures lie.
    """
    spacing_arr = np.asarray(spacing, dtype=float)
    if spacing_arr.shape != (3,) or np.any(spacing_arr <= 0):
        raise ValueError(f"spacing must be three positive numbers, got {spacing}")
    high = bounding_half_extent(shape) + margin_mm
    low = -high - np.array([0.0, posterior_extension_mm, 0.0])
    dims = np.ceil((high - low) / spacing_arr).astype(int)
    origin = 0.5 * (low + high) - 0.5 * (dims - 1) * spacing_arr
    axes = [origin[i] + spacing_arr[i] * np.arange(dims[i]) for i in range(3)]
    affine = np.diag([*spacing_arr, 1.0])
    affine[:3, 3] = origin
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1), affine


def neighbour_structures(shape: MuscleShape, grid_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two other structures of a thigh labelmap, posterior to the muscle: a deeper muscle belly and a femur shaft."""
    local = grid_points @ rotation_matrix(shape.rotation_deg)
    x, y, z = local[..., 0], local[..., 1], local[..., 2]
    depth = 0.5 * shape.thickness + NEIGHBOUR_GAP_MM
    t = z / (0.9 * shape.length) + 0.5
    deep_radius = np.sin(np.pi * np.clip(t, 0, 1)) ** 0.7
    deep = ((x / (0.6 * shape.width)) ** 2 + ((y + depth) / 9.0) ** 2 <= deep_radius**2) & (t > 0) & (t < 1)
    femur = (x**2 + (y + depth + 18.0) ** 2) <= FEMUR_RADIUS_MM**2
    return deep, femur


def mid_section_extent(mask: np.ndarray, affine: np.ndarray) -> tuple[float, float]:
    """Width (left-right) and thickness (antero-posterior) in mm of the axial slice through the centre of mass.

    ``mask`` must be on an RAS-aligned grid (as :func:`rasterise` makes it). This is the simple shape descriptor
    the cohort tests compare with volume.
    """
    idx = np.argwhere(mask)
    mid = int(round(idx[:, 2].mean()))
    section = idx[idx[:, 2] == mid]
    spacing = np.abs(np.diag(affine)[:3])
    width = (np.ptp(section[:, 0]) + 1) * spacing[0]
    thickness = (np.ptp(section[:, 1]) + 1) * spacing[1]
    return float(width), float(thickness)
