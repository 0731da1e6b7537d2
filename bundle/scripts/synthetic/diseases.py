"""Disease families of the abnormal group (OS): different shape changes, so that a score chosen on some families can
be reported on families it was not tuned on.

Every family scales with ``strength`` (1 clear, 0.4 mild) through a per-subject ``severity = strength * U(0.5, 1)``,
drawn first; a family's other draws follow, so that the same seed gives the same muscle before the change.

- ``flattening`` (the default, the original OS): flatter and wider cross-section, a concavity of the anterior surface
  near mid-length and a thinner distal belly.
- ``focal_dent``: one concavity at a random level (t ~ U(0.2, 0.8)) and side (angle ~ U(0, 2 pi) around the long
  axis), of the same depth and extent as the original one; nothing else.
- ``proximal_thinning`` / ``distal_thinning``: the thickness (not the width) of one end of the belly reduced.
- ``short_wide``: a shorter muscle with a thicker and wider belly, of nearly the same volume.
- ``uniform_wasting``: the whole cross-section shrinks by the same factor, the length stays.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .shape import DISEASES, MuscleShape

ATROPHY_DEPTH = 0.35  # of the radius, per unit severity
FLATTENING = 0.25
THINNING = 0.3
SHORTENING, WIDENING = 0.2, 0.1  # short_wide: length x (1 - 0.2 s), width and thickness x (1 + 0.1 s)
WASTING = 0.15
MAX_STRENGTH = 2.0  # beyond it the flattening and the dent would cut through the muscle


def _flattening(shape: MuscleShape, severity: float, rng: np.random.Generator) -> None:
    shape.flattening = FLATTENING * severity
    shape.atrophy_depth = ATROPHY_DEPTH * severity
    shape.atrophy_position = rng.uniform(0.4, 0.6)
    shape.atrophy_angle = rng.normal(np.pi / 2, 0.3)  # anterior surface
    shape.distal_thinning = THINNING * severity


def _focal_dent(shape: MuscleShape, severity: float, rng: np.random.Generator) -> None:
    shape.atrophy_depth = ATROPHY_DEPTH * severity
    shape.atrophy_position = rng.uniform(0.2, 0.8)
    shape.atrophy_angle = rng.uniform(0.0, 2 * np.pi)


def _proximal_thinning(shape: MuscleShape, severity: float, rng: np.random.Generator) -> None:
    shape.proximal_thinning = THINNING * severity


def _distal_thinning(shape: MuscleShape, severity: float, rng: np.random.Generator) -> None:
    shape.distal_thinning = THINNING * severity


def _short_wide(shape: MuscleShape, severity: float, rng: np.random.Generator) -> None:
    shape.length_factor = 1.0 - SHORTENING * severity
    shape.section_factor = 1.0 + WIDENING * severity


def _uniform_wasting(shape: MuscleShape, severity: float, rng: np.random.Generator) -> None:
    shape.section_factor = 1.0 - WASTING * severity


FAMILIES: dict[str, Callable[[MuscleShape, float, np.random.Generator], None]] = {
    "flattening": _flattening,
    "focal_dent": _focal_dent,
    "proximal_thinning": _proximal_thinning,
    "distal_thinning": _distal_thinning,
    "short_wide": _short_wide,
    "uniform_wasting": _uniform_wasting,
}
assert tuple(FAMILIES) == DISEASES


def check_disease(disease: str) -> str:
    if disease not in FAMILIES:
        raise ValueError(f"disease must be one of {', '.join(DISEASES)}; got {disease!r}")
    return disease


def check_strength(strength: float) -> float:
    if not 0.0 <= strength <= MAX_STRENGTH:
        raise ValueError(f"strength must lie in [0, {MAX_STRENGTH:g}] (1 clear, 0.4 mild), got {strength}")
    return strength


def apply_disease(shape: MuscleShape, disease: str, strength: float, rng: np.random.Generator) -> MuscleShape:
    """Change ``shape`` in place by one subject's draw of ``disease`` at ``strength``; returns it."""
    severity = strength * rng.uniform(0.5, 1.0)
    shape.disease, shape.severity = check_disease(disease), severity
    FAMILIES[disease](shape, severity, rng)
    if shape.length_factor != 1.0:
        shape.length *= shape.length_factor
    if shape.section_factor != 1.0:
        shape.width *= shape.section_factor
        shape.thickness *= shape.section_factor
    return shape
