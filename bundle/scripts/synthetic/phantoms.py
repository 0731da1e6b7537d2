"""Synthetic rectus-femoris-like muscle shapes for the demo cohort and the tests.

A muscle is a tapered spindle along a slightly bent, twisted axis with elliptical cross-sections and low-frequency
surface perturbations (``healthy``: how healthy muscles vary). Groups differ in *shape*: older sarcopenic (OS)
muscles carry one of the disease families of ``diseases`` (by default flatter, with a local atrophy, a concavity, and
a thinner distal belly), while their overall size overlaps the healthy groups so that volume alone is a weak marker.
The image grid around a muscle and its neighbours are ``grids``'s, re-exported here.
"""

from __future__ import annotations

import numpy as np

from .diseases import apply_disease, check_disease
from .grids import (
    FEMUR_RADIUS_MM,
    NEIGHBOUR_EXTENT_MM,
    NEIGHBOUR_GAP_MM,
    bounding_half_extent,
    mid_section_extent,
    neighbour_structures,
    rotation_matrix,
    world_grid,
)
from .healthy import HEALTHY_SHAPES, displacement
from .shape import (
    DISEASES,
    GROUPS,
    HEALTHY_GROUPS,
    HEALTHY_MODELS,
    NOMINAL_LENGTH_MM,
    NOMINAL_THICKNESS_MM,
    NOMINAL_WIDTH_MM,
    OLDER_THICKNESS_FACTOR,
    OLDER_WIDTH_FACTOR,
    SARCOPENIC_SCALE_SHIFT,
    MuscleShape,
)

__all__ = [
    "DISEASES",
    "FEMUR_RADIUS_MM",
    "GROUPS",
    "HEALTHY_GROUPS",
    "HEALTHY_MODELS",
    "NEIGHBOUR_EXTENT_MM",
    "NEIGHBOUR_GAP_MM",
    "NOMINAL_LENGTH_MM",
    "NOMINAL_THICKNESS_MM",
    "NOMINAL_WIDTH_MM",
    "OLDER_THICKNESS_FACTOR",
    "OLDER_WIDTH_FACTOR",
    "SARCOPENIC_SCALE_SHIFT",
    "MuscleShape",
    "bounding_half_extent",
    "check_healthy_model",
    "inside",
    "mid_section_extent",
    "neighbour_structures",
    "sample_shape",
    "world_grid",
]


def check_healthy_model(healthy_model: str) -> str:
    if healthy_model not in HEALTHY_SHAPES:
        raise ValueError(f"healthy_model must be one of {', '.join(HEALTHY_MODELS)}; got {healthy_model!r}")
    return healthy_model


def sample_shape(
    group: str,
    rng: np.random.Generator,
    strength: float = 1.0,
    max_rotation_deg: float = 4.0,
    disease: str = "flattening",
    healthy_model: str = "spindle",
) -> MuscleShape:
    """Draw one subject's shape parameters for ``group`` (Y, OH or OS).

    Every subject is first drawn by ``healthy_model``; an OS subject then gets ``disease`` at ``strength`` from the
    same stream, so that a seed gives the same healthy subjects whatever the disease.
    """
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}; expected one of {GROUPS}")
    check_disease(disease)
    shape = HEALTHY_SHAPES[check_healthy_model(healthy_model)](group, rng, max_rotation_deg)
    if group == "OS":
        apply_disease(shape, disease, strength, rng)
    return shape


def _profile(t: np.ndarray, belly_position: float, taper: float) -> np.ndarray:
    """Spindle radius profile along the normalised length ``t``: zero at both tendons, one at the belly."""
    tau = np.where(
        t < belly_position, 0.5 * t / belly_position, 0.5 + 0.5 * (t - belly_position) / (1 - belly_position)
    )
    return np.sin(np.pi * np.clip(tau, 0.0, 1.0)) ** taper


def _end_thinning(shape: MuscleShape, t: np.ndarray) -> np.ndarray:
    """Thickness factor of thinned ends: 1 up to mid-length, the full thinning 0.3 of the length past it (distal:
    towards t = 1, proximal: towards t = 0), a quadratic ramp between."""
    factor = 1.0 - shape.distal_thinning * np.clip((t - 0.5) / 0.3, 0.0, 1.0) ** 2
    if shape.proximal_thinning:
        factor = factor * (1.0 - shape.proximal_thinning * np.clip((0.5 - t) / 0.3, 0.0, 1.0) ** 2)
    return factor


def inside(shape: MuscleShape, points: np.ndarray, contour_change=None, offset_mm: float = 0.0) -> np.ndarray:
    """Whether world points ``[..., 3]`` (mm, RAS, muscle centred at the origin) lie inside the muscle.

    ``contour_change(phi)``, when given, returns a relative change of the cross-section's radius at the points'
    polar angles ``phi`` (a rater's contour error, see ``realism.SliceJitter``). ``offset_mm`` moves the contour of
    every cross-section outwards (positive) or inwards by about that distance (a rater's bias, ``realism``).
    """
    local = points @ rotation_matrix(shape.rotation_deg)  # row vectors: inverse rotation of the pose
    if shape.displacement:  # deformed template: a point is inside where the point it came from is
        local = local - displacement(shape, local)
    x, y, z = local[..., 0], local[..., 1], local[..., 2]
    t = z / shape.length + 0.5
    arc = np.sin(np.pi * np.clip(t, 0.0, 1.0))
    u, v = x - shape.bend_lateral * arc, y - shape.bend_anterior * arc
    theta = np.deg2rad(shape.twist_deg) * (t - 0.5)
    u, v = u * np.cos(theta) + v * np.sin(theta), -u * np.sin(theta) + v * np.cos(theta)

    profile = _profile(t, shape.belly_position, shape.taper)
    half_width = 0.5 * shape.width * (1.0 + 0.5 * shape.flattening) * profile
    half_thickness = 0.5 * shape.thickness * (1.0 - shape.flattening) * profile * _end_thinning(shape, t)
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
    if offset_mm:  # first order: (radius - limit) / |grad radius| is the distance (mm) to the contour
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.sqrt((np.cos(phi) / half_width) ** 2 + (np.sin(phi) / half_thickness) ** 2)
            within = radius - limit <= offset_mm * slope
    else:
        within = radius <= limit
    return (t > 0) & (t < 1) & (profile > 0) & np.nan_to_num(within, nan=False)
