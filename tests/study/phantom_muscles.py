"""Synthetic muscles for the shape model's and the twins' tests: few, coarse (2.5 mm), drawn in any pose."""

from __future__ import annotations

import dataclasses

import numpy as np

from scripts.study.shape_model import SubjectShape
from scripts.synthetic import phantoms
from scripts.synthetic.labelmaps import reorient

SPACING = 2.5


def shapes(group: str, count: int, seed: int = 0, start: int = 0) -> list[phantoms.MuscleShape]:
    """``count`` muscles of ``group`` (Y, OH or OS), each drawn from a stream of its own."""
    return [
        phantoms.sample_shape(group, np.random.default_rng([seed, phantoms.GROUPS.index(group), i]))
        for i in range(start, start + count)
    ]


def draw(
    shape: phantoms.MuscleShape,
    rotation=None,
    centre=(0.0, 0.0, 0.0),
    offset=(0.0, 0.0, 0.0),
    axcodes: str = "RAS",
    spacing: float = SPACING,
) -> tuple[np.ndarray, np.ndarray]:
    """The muscle as a mask and affine: posed by ``rotation`` (degrees; its own pose if None), centred at ``centre``
    (world mm) on a grid shifted by ``offset`` mm (a sub-voxel shift changes the voxels), stored in ``axcodes``."""
    posed = shape if rotation is None else dataclasses.replace(shape, rotation_deg=tuple(rotation))
    grid, affine = phantoms.world_grid(posed, (spacing,) * 3)
    shift = np.asarray(offset, dtype=float)
    mask = phantoms.inside(posed, grid + shift)
    affine = affine.copy()
    affine[:3, 3] += np.asarray(centre, dtype=float) + shift
    return reorient(mask, affine, axcodes)


def subjects(muscles: list[phantoms.MuscleShape]) -> list[SubjectShape]:
    return [SubjectShape.of_mask(*draw(m)) for m in muscles]
