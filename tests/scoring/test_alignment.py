"""Rigid alignment of a surface onto a distance field: a known turn and shift are found; a large dent in the target
pulls the alignment by less than half a voxel (unweighted, by more than a voxel)."""

from __future__ import annotations

import numpy as np
import pytest

from scripts.scoring.alignment import RigidTransform, align_to_field, rotation_of
from scripts.scoring.change import change_map
from scripts.scoring.deviation import distance_field, mask_surface

SPACING = 1.0


def _ellipsoid(rotation=np.eye(3), shift=(0.0, 0.0, 0.0), dent=False) -> tuple[np.ndarray, np.ndarray]:
    """An ellipsoid (radii 11, 8, 24 mm) turned by ``rotation`` and moved by ``shift`` (mm) about the grid's middle;
    with ``dent``, a box of its +x side cut away (where it lies after the turn)."""
    shape = np.array((44, 40, 70))
    grid = (np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1) - shape / 2) * SPACING
    local = (grid - np.asarray(shift)) @ rotation  # each point in the ellipsoid's own frame
    inside = ((local / np.array([11.0, 8.0, 24.0])) ** 2).sum(axis=-1) <= 1.0
    if dent:
        inside &= ~((local[..., 0] > 5.0) & (np.abs(local[..., 1]) < 6.0) & (np.abs(local[..., 2] - 5.0) < 9.0))
    affine = np.diag([SPACING, SPACING, SPACING, 1.0])
    affine[:3, 3] = -shape / 2 * SPACING
    return inside, affine


def test_rotation_of_a_vector_turns_about_it_by_its_length():
    turn = rotation_of(np.array([0.0, 0.0, np.pi / 2]))
    np.testing.assert_allclose(turn @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    assert RigidTransform(turn, np.zeros(3)).angle_deg == pytest.approx(90.0)
    np.testing.assert_array_equal(rotation_of(np.zeros(3)), np.eye(3))


def test_then_applies_one_transform_after_the_other():
    first = RigidTransform(rotation_of(np.array([0.1, -0.2, 0.3])), np.array([1.0, 2.0, 3.0]))
    second = RigidTransform(rotation_of(np.array([-0.3, 0.0, 0.2])), np.array([-4.0, 0.5, 0.0]))
    points = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_allclose(first.then(second).apply(points), second.apply(first.apply(points)), atol=1e-12)


@pytest.mark.parametrize("dent", [False, True])
def test_a_known_turn_and_shift_are_found_even_with_a_dent_in_the_target(dent):
    turn = rotation_of(np.radians([3.0, -2.0, 4.0]))
    shift = np.array([1.3, -0.7, 2.2])
    first, affine = _ellipsoid()
    second, _ = _ellipsoid(turn, shift, dent=dent)
    points = mask_surface(first, affine).vertices
    found = align_to_field(points, distance_field(second, affine), affine, start=np.zeros(3))
    truth = RigidTransform(turn, shift)
    error = np.linalg.norm(found.apply(points) - truth.apply(points), axis=1)
    assert found.angle_deg == pytest.approx(truth.angle_deg, abs=1.0) and np.median(error) < 0.5 * SPACING


def test_an_oblique_grid_is_aligned_in_world_millimetres():
    """The same voxels on a grid turned by 6 degrees in the scanner (an oblique acquisition, anisotropic voxels): the
    alignment finds the turn, and the map between them is flat."""
    mask, affine = _ellipsoid()
    affine = affine @ np.diag([1.0, 1.0, 1.5, 1.0])  # thicker slices
    turn = rotation_of(np.radians([0.0, 6.0, 0.0]))
    oblique = affine.copy()
    oblique[:3] = np.hstack([turn, np.zeros((3, 1))]) @ affine
    mapped = change_map(mask, affine, mask, oblique)
    assert mapped.alignment.angle_deg == pytest.approx(6.0, abs=0.1)
    assert np.median(np.abs(mapped.change)) < 1e-3 and np.abs(mapped.change).max() < 0.1
