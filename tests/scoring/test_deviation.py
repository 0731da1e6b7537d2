"""The input's surface against its normal shape: mesh vertices on the boundary, signed deviation, its map."""

from __future__ import annotations

import numpy as np
import pytest

from scripts.data.geometry import world_to_voxel
from scripts.scoring.deviation import (
    ShapeFrame,
    deviation_map,
    distance_field,
    mask_surface,
    signed_distance,
    vertex_deviation,
)


def _ball(shape=(40, 40, 40), radius=12.0, centre=None):
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    centre = np.array(shape) / 2.0 if centre is None else np.asarray(centre)
    return np.linalg.norm(grid - centre, axis=-1) <= radius


OBLIQUE = np.array(
    [[0.0, -1.2, 0.3, 10.0], [0.9, 0.0, 0.0, -4.0], [0.0, 0.3, 1.5, 2.0], [0.0, 0.0, 0.0, 1.0]], dtype=np.float64
)


@pytest.mark.parametrize("affine", [np.diag([1.0, 1.0, 2.0, 1.0]), OBLIQUE])
def test_mesh_vertices_lie_on_the_boundary_in_world_coordinates(affine):
    mask = _ball()
    surface = mask_surface(mask, affine)
    indices = np.round(world_to_voxel(surface.vertices, affine), 6)  # back to the grid: exact up to rounding
    low, high = np.floor(indices).astype(int), np.ceil(indices).astype(int)
    # every vertex lies half-way between a voxel inside and its neighbour outside: on the boundary
    assert np.all(mask[tuple(low.T)] != mask[tuple(high.T)])
    assert np.allclose(np.abs(indices - np.rint(indices)).max(axis=1), 0.5)


def test_signed_distance_is_negative_inside_and_zero_between_voxels():
    mask = _ball()
    field = signed_distance(mask, (1.0, 1.0, 1.0))
    assert field[20, 20, 20] == pytest.approx(-11.5, abs=0.1) and field[0, 0, 0] > 0
    boundary = mask & ~np.roll(mask, 1, axis=0)
    assert np.all(np.abs(field[boundary]) <= 0.5 + 1e-9)


def test_a_dent_gives_negative_deviation_where_it_is_and_none_elsewhere():
    normal = _ball()
    dented = normal.copy()
    dented[:, :, 29:] = False  # the top 3 voxels of the ball (radius 12 around z = 20) are missing
    surface, deviation = vertex_deviation(dented, normal, np.eye(4))
    top = surface.vertices[:, 2] > 28.0
    assert deviation[top].min() < -3.0 and deviation[top].mean() < -1.0  # the cut face lies inside the normal shape
    side = np.abs(surface.vertices[:, 2] - 20.0) < 4.0
    assert np.abs(deviation[side]).max() < 0.6
    frame = ShapeFrame.of_mask(normal, np.eye(4))
    cells = deviation_map(surface.vertices, deviation, frame, bins=(4, 4))
    assert cells.shape == (4, 4) and np.nanmin(cells) < -0.5


@pytest.mark.parametrize("step", [1, 2, 3])
def test_surfaces_and_deviations_on_the_aligned_box_are_those_of_the_whole_grid(step):
    """Scoring and the summary page measure on the box around the shapes; with the box aligned to the mesh step
    (``crop_around(align=step)``) every vertex and deviation is the whole grid's."""
    from scripts.data.geometry import crop_around

    grid = np.indices((40, 36, 50)) - np.array([19, 17, 26]).reshape(3, 1, 1, 1)
    mask = ((grid[0] / 7.0) ** 2 + (grid[1] / 5.0) ** 2 + (grid[2] / 11.0) ** 2) <= 1
    recon = ((grid[0] / 6.0) ** 2 + (grid[1] / 5.5) ** 2 + (grid[2] / 10.0) ** 2) <= 1
    affine = np.diag([1.5, 1.0, 2.0, 1.0])
    affine[:3, 3] = (-10.0, 4.0, 30.0)
    whole = vertex_deviation(mask, recon, affine, step=step)
    (small_mask, small_recon), small_affine = crop_around([mask, recon], affine, margin=2, align=step)
    assert small_mask.size < mask.size / 4
    cropped = vertex_deviation(small_mask, small_recon, small_affine, step=step)
    np.testing.assert_allclose(cropped[0].vertices, whole[0].vertices, atol=1e-9)
    np.testing.assert_allclose(cropped[1], whole[1], atol=1e-9)


@pytest.mark.parametrize("smooth_mm", [0.0, 0.5])
def test_a_distance_field_given_once_serves_every_mask_as_its_reconstruction_does(smooth_mm):
    """Several masks compared with one reconstruction (the study's learned shapes) reuse its distance field: the
    deviations are those of passing the reconstruction each time, and an empty one is as far as the grid allows."""
    normal, affine = _ball(), np.diag([1.0, 1.2, 0.8, 1.0])
    field = distance_field(normal, affine, smooth_mm)
    for radius in (9.0, 11.0, 14.0):
        mask = _ball(radius=radius)
        given = vertex_deviation(mask, None, affine, smooth_mm=smooth_mm, field=field)
        passed = vertex_deviation(mask, normal, affine, smooth_mm=smooth_mm)
        np.testing.assert_array_equal(given[0].vertices, passed[0].vertices)
        np.testing.assert_array_equal(given[1], passed[1])
    empty = distance_field(np.zeros_like(normal), affine, smooth_mm)
    assert np.isfinite(empty).all() and empty.min() > 40.0
