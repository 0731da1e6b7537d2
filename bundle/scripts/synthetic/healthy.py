"""How healthy muscles vary: two models of a different form, so that a score tuned on one can be tried on the other.

- ``spindle`` (the default and the demo's): independent draws of length, width, thickness, bend, twist, belly
  position and taper, with low-frequency ripples of the surface.
- ``deformed_template``: one fixed template (the nominal spindle) scaled as a whole, then warped by a smooth random
  displacement field, a sum of a few low-frequency sine modes of the coordinates with amplitudes of a few mm. Its
  variation is spatially coupled (bends, shears, local swellings) instead of parametric.

Both share the group effects: the older groups' ageing factors and the sarcopenic group's size shift.
"""

from __future__ import annotations

import numpy as np

from .shape import (
    NOMINAL_LENGTH_MM,
    NOMINAL_THICKNESS_MM,
    NOMINAL_WIDTH_MM,
    OLDER_THICKNESS_FACTOR,
    OLDER_WIDTH_FACTOR,
    SARCOPENIC_SCALE_SHIFT,
    MuscleShape,
)

TEMPLATE_MODES = 6
TEMPLATE_AMPLITUDE_MM = 1.5  # standard deviation of each mode's displacement, per axis
# Wave numbers (half-waves) of the modes across the section (in widths / thicknesses) and along the length.
TEMPLATE_SECTION_WAVES = 0.5
TEMPLATE_LENGTH_WAVES = (0.5, 2.5)


def _group_factors(group: str, rng: np.random.Generator) -> tuple[float, float, float]:
    """Global scale (with the sarcopenic size shift), width and thickness factors of ageing."""
    scale = rng.uniform(0.85, 1.15) * (SARCOPENIC_SCALE_SHIFT if group == "OS" else 1.0)
    older = group in ("OH", "OS")
    return scale, OLDER_WIDTH_FACTOR if older else 1.0, OLDER_THICKNESS_FACTOR if older else 1.0


def _rotation(rng: np.random.Generator, max_rotation_deg: float) -> tuple[float, float, float]:
    return tuple(float(a) for a in rng.uniform(-max_rotation_deg, max_rotation_deg, size=3))


def spindle_shape(group: str, rng: np.random.Generator, max_rotation_deg: float) -> MuscleShape:
    """The parametric spindle: the original generator's draws, in their original order (same seed, same muscle)."""
    scale, width_factor, thickness_factor = _group_factors(group, rng)
    perturbation = [
        [rng.uniform(0.01, 0.035), float(k_t), float(k_phi), rng.uniform(0, 2 * np.pi)]
        for k_t, k_phi in ((1, 2), (2, 1), (2, 3), (3, 2))
    ]
    return MuscleShape(
        length=NOMINAL_LENGTH_MM * scale * rng.normal(1.0, 0.05),
        width=NOMINAL_WIDTH_MM * scale * width_factor * rng.normal(1.0, 0.06),
        thickness=NOMINAL_THICKNESS_MM * scale * thickness_factor * rng.normal(1.0, 0.06),
        bend_lateral=rng.normal(0.0, 3.0),
        bend_anterior=rng.normal(3.0, 1.5),
        twist_deg=rng.uniform(-15.0, 15.0),
        belly_position=rng.normal(0.45, 0.03),
        taper=rng.uniform(0.6, 0.8),
        perturbation=perturbation,
        rotation_deg=_rotation(rng, max_rotation_deg),
    )


def template_shape(group: str, rng: np.random.Generator, max_rotation_deg: float) -> MuscleShape:
    """The nominal spindle, scaled as a whole, with a random smooth displacement field (see the module docstring)."""
    scale, width_factor, thickness_factor = _group_factors(group, rng)
    displacement = [
        [
            *rng.normal(0.0, TEMPLATE_AMPLITUDE_MM, 3),
            *rng.uniform(-TEMPLATE_SECTION_WAVES, TEMPLATE_SECTION_WAVES, 2),
            rng.uniform(*TEMPLATE_LENGTH_WAVES),
            rng.uniform(0.0, 2 * np.pi),
        ]
        for _ in range(TEMPLATE_MODES)
    ]
    return MuscleShape(
        length=NOMINAL_LENGTH_MM * scale,
        width=NOMINAL_WIDTH_MM * scale * width_factor,
        thickness=NOMINAL_THICKNESS_MM * scale * thickness_factor,
        bend_lateral=0.0,
        bend_anterior=3.0,
        twist_deg=0.0,
        belly_position=0.45,
        taper=0.7,
        displacement=[[float(value) for value in mode] for mode in displacement],
        rotation_deg=_rotation(rng, max_rotation_deg),
    )


HEALTHY_SHAPES = {"spindle": spindle_shape, "deformed_template": template_shape}


def displacement(shape: MuscleShape, local: np.ndarray) -> np.ndarray:
    """The displacement field (mm) at muscle-frame points ``[..., 3]``; wave numbers are in units of the muscle's
    own width, thickness and length, so that the field scales with the muscle (and with a disease's size change)."""
    u, v, t = local[..., 0] / shape.width, local[..., 1] / shape.thickness, local[..., 2] / shape.length
    field = np.zeros_like(local)
    for a_x, a_y, a_z, k_u, k_v, k_t, phase in shape.displacement:
        wave = np.sin(np.pi * (k_u * u + k_v * v + k_t * t) + phase)
        field += wave[..., None] * np.array([a_x, a_y, a_z])
    return field


def displacement_reach(shape: MuscleShape) -> np.ndarray:
    """The largest displacement along each axis of the muscle's frame (mm): what a grid around it must add."""
    if not shape.displacement:
        return np.zeros(3)
    return np.abs(np.asarray(shape.displacement)[:, :3]).sum(axis=0)
