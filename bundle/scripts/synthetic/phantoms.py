"""Synthetic rectus-femoris-like muscle shapes for the demo cohort and the tests.

A muscle is a tapered spindle along a slightly bent, twisted axis with elliptical cross-sections and low-frequency
surface perturbations. Groups differ in *shape*: older sarcopenic (OS) muscles are flatter, carry a local atrophy
(a concavity) and have a thinner distal belly, while their overall size overlaps the healthy groups so that volume
alone is a weak marker.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

GROUPS = ("Y", "OH", "OS")
HEALTHY_GROUPS = ("Y", "OH")

# Nominal size of a young muscle (mm); subjects vary around it.
NOMINAL_LENGTH_MM = 160.0
NOMINAL_WIDTH_MM = 38.0
NOMINAL_THICKNESS_MM = 22.0
# Mild ageing effect of the older healthy group, and the size shift that makes sarcopenic volumes overlap healthy ones.
OLDER_THICKNESS_FACTOR = 0.94
OLDER_WIDTH_FACTOR = 0.98
SARCOPENIC_SCALE_SHIFT = 1.1
# Neighbours in multi-label output: a deeper muscle NEIGHBOUR_GAP_MM behind the muscle's centre plane, then a femur.
NEIGHBOUR_GAP_MM = 12.0
FEMUR_RADIUS_MM = 9.0
NEIGHBOUR_EXTENT_MM = NEIGHBOUR_GAP_MM + 18.0 + FEMUR_RADIUS_MM


@dataclass
class MuscleShape:
    """Generating parameters of one muscle, all in mm, degrees or fractions of the length."""

    length: float
    width: float
    thickness: float
    bend_lateral: float
    bend_anterior: float
    twist_deg: float
    belly_position: float
    taper: float
    perturbation: list[list[float]] = field(default_factory=list)  # rows: amplitude, k_t, k_phi, phase
    flattening: float = 0.0
    atrophy_depth: float = 0.0
    atrophy_position: float = 0.5
    atrophy_angle: float = 0.0
    distal_thinning: float = 0.0
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def to_dict(self) -> dict:
        return asdict(self)


def sample_shape(group: str, rng: np.random.Generator, strength: float = 1.0, max_rotation_deg: float = 4.0):
    """Draw one subject's shape parameters for ``group`` (Y, OH or OS); ``strength`` scales the sarcopenic changes."""
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}; expected one of {GROUPS}")
    scale = rng.uniform(0.85, 1.15) * (SARCOPENIC_SCALE_SHIFT if group == "OS" else 1.0)
    thickness_factor = OLDER_THICKNESS_FACTOR if group in ("OH", "OS") else 1.0
    width_factor = OLDER_WIDTH_FACTOR if group in ("OH", "OS") else 1.0
    perturbation = [
        [rng.uniform(0.01, 0.035), float(k_t), float(k_phi), rng.uniform(0, 2 * np.pi)]
        for k_t, k_phi in ((1, 2), (2, 1), (2, 3), (3, 2))
    ]
    shape = MuscleShape(
        length=NOMINAL_LENGTH_MM * scale * rng.normal(1.0, 0.05),
        width=NOMINAL_WIDTH_MM * scale * width_factor * rng.normal(1.0, 0.06),
        thickness=NOMINAL_THICKNESS_MM * scale * thickness_factor * rng.normal(1.0, 0.06),
        bend_lateral=rng.normal(0.0, 3.0),
        bend_anterior=rng.normal(3.0, 1.5),
        twist_deg=rng.uniform(-15.0, 15.0),
        belly_position=rng.normal(0.45, 0.03),
        taper=rng.uniform(0.6, 0.8),
        perturbation=perturbation,
        rotation_deg=tuple(float(a) for a in rng.uniform(-max_rotation_deg, max_rotation_deg, size=3)),
    )
    if group == "OS":
        severity = strength * rng.uniform(0.5, 1.0)
        shape.flattening = 0.25 * severity
        shape.atrophy_depth = 0.35 * severity
        shape.atrophy_position = rng.uniform(0.4, 0.6)
        shape.atrophy_angle = rng.normal(np.pi / 2, 0.3)  # anterior surface
        shape.distal_thinning = 0.3 * severity
    return shape


def _profile(t: np.ndarray, belly_position: float, taper: float) -> np.ndarray:
    """Spindle radius profile along the normalised length ``t``: zero at both tendons, one at the belly."""
    tau = np.where(
        t < belly_position, 0.5 * t / belly_position, 0.5 + 0.5 * (t - belly_position) / (1 - belly_position)
    )
    return np.sin(np.pi * np.clip(tau, 0.0, 1.0)) ** taper


def _rotation(angles_deg: tuple[float, float, float]) -> np.ndarray:
    ax, ay, az = np.deg2rad(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def inside(shape: MuscleShape, points: np.ndarray, contour_change=None) -> np.ndarray:
    """Whether world points ``[..., 3]`` (mm, RAS, muscle centred at the origin) lie inside the muscle.

    ``contour_change(phi)``, when given, returns a relative change of the cross-section's radius at the points'
    polar angles ``phi`` (a rater's contour error, see ``realism.SliceJitter``).
    """
    local = points @ _rotation(shape.rotation_deg)  # row vectors: inverse rotation of the pose
    x, y, z = local[..., 0], local[..., 1], local[..., 2]
    t = z / shape.length + 0.5
    arc = np.sin(np.pi * np.clip(t, 0.0, 1.0))
    u, v = x - shape.bend_lateral * arc, y - shape.bend_anterior * arc
    theta = np.deg2rad(shape.twist_deg) * (t - 0.5)
    u, v = u * np.cos(theta) + v * np.sin(theta), -u * np.sin(theta) + v * np.cos(theta)

    profile = _profile(t, shape.belly_position, shape.taper)
    distal = 1.0 - shape.distal_thinning * np.clip((t - 0.5) / 0.3, 0.0, 1.0) ** 2
    half_width = 0.5 * shape.width * (1.0 + 0.5 * shape.flattening) * profile
    half_thickness = 0.5 * shape.thickness * (1.0 - shape.flattening) * profile * distal
    with np.errstate(divide="ignore", invalid="ignore"):
        un, vn = u / half_width, v / half_thickness
    radius = np.sqrt(un**2 + vn**2)
    phi = np.arctan2(vn, un)

    limit = np.ones_like(radius)
    for amplitude, k_t, k_phi, phase in shape.perturbation:
        limit += amplitude * np.sin(np.pi * k_t * t + phase) * np.cos(k_phi * phi + phase)
    if shape.atrophy_depth > 0:
        angular = np.cos(phi - shape.atrophy_angle).clip(0.0, None) ** 4
        axial = np.exp(-0.5 * ((t - shape.atrophy_position) / 0.08) ** 2)
        limit -= shape.atrophy_depth * angular * axial
    if contour_change is not None:
        limit += contour_change(phi)
    return (t > 0) & (t < 1) & (profile > 0) & np.nan_to_num(radius <= limit, nan=False)


def bounding_half_extent(shape: MuscleShape) -> np.ndarray:
    """Half extent (mm) of a box around the muscle in its posed orientation, before any margin."""
    half = np.array(
        [
            0.5 * shape.width * 1.3 + abs(shape.bend_lateral),
            0.5 * shape.thickness * 1.3 + abs(shape.bend_anterior),
            0.5 * shape.length,
        ]
    )
    corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * half
    return np.abs(corners @ _rotation(shape.rotation_deg).T).max(axis=0)


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
    local = grid_points @ _rotation(shape.rotation_deg)
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
