"""The change map between two visits: nothing for the same muscle, inward where a dent appears, in any orientation."""

from __future__ import annotations

import numpy as np
import pytest

from scripts.scoring.change import change_map, change_summary, score_changes
from scripts.synthetic.labelmaps import reorient

SPACING = 1.5


def _ellipsoid(shape=(40, 36, 60), radii=(10.0, 8.0, 22.0), centre=None) -> tuple[np.ndarray, np.ndarray]:
    centre = np.array(shape) / 2.0 if centre is None else np.asarray(centre)
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1) * SPACING
    inside = (((grid - centre * SPACING) / (np.asarray(radii) * SPACING / 1.0)) ** 2).sum(axis=-1) <= 1.0
    affine = np.diag([SPACING, SPACING, SPACING, 1.0])
    affine[:3, 3] = [-30.0, 12.0, 5.0]
    return inside, affine


def _dented(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mask with a dent cut into its +x side around the middle of its length; the dent's voxels."""
    dented = mask.copy()
    xs = np.nonzero(mask.any(axis=(1, 2)))[0]
    region = np.zeros_like(mask)
    region[xs.max() - 2 :, 12:24, 25:35] = True
    dented[region] = False
    return dented, region & mask


def test_the_same_muscle_in_another_position_changes_nothing():
    mask, affine = _ellipsoid()
    moved = affine.copy()
    moved[:3, 3] += [7.0, -3.0, 11.0]  # the same voxels, elsewhere in the scanner
    surface, change = change_map(mask, affine, mask, moved)
    assert len(change) > 1000 and np.abs(change).max() < 1e-6
    assert change_summary(change, 1.0)["changed_surface_fraction"] == 0.0


def test_a_dent_in_the_second_visit_shows_where_the_dent_is_and_only_inward():
    mask, affine = _ellipsoid()
    dented, removed = _dented(mask)
    surface, change = change_map(mask, affine, dented, affine)
    dent_world = (np.argwhere(removed) * SPACING + affine[:3, 3]).mean(axis=0)
    near = np.linalg.norm(surface.vertices - dent_world, axis=1) < 12.0
    assert change.min() < -2.0 and change.max() < 0.6  # inward; outward only by the centre of mass's small shift
    moved = change < -1.0  # beyond a voxel's rounding and the centre of mass's shift: the dent, and only there
    assert near[moved].all() and near[np.argmin(change)]


def test_a_second_visit_given_in_another_orientation_changes_as_in_the_first():
    mask, affine = _ellipsoid()
    dented, _ = _dented(mask)
    _, same = change_map(mask, affine, dented, affine)
    flipped, flipped_affine = reorient(dented, affine, "LPI")
    assert not np.array_equal(flipped, dented)
    _, other = change_map(mask, affine, flipped, flipped_affine)
    np.testing.assert_allclose(other, same, atol=1e-6)


def test_score_changes_keep_finite_numbers_of_both_visits():
    first = {"combined": 1.0, "dice": 0.9, "decision": "normal", "asd_mm": float("nan"), "flag": True}
    second = {"combined": 2.5, "dice": 0.8, "decision": "abnormal", "asd_mm": 0.3, "flag": False}
    changes = score_changes(first, second, ["combined", "dice", "decision", "asd_mm", "flag", "missing"])
    assert changes == {"combined": 1.5, "dice": pytest.approx(-0.1)}
