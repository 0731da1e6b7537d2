"""The change map between two visits: nothing for the same muscle, inward where a dent appears, in any orientation
or pose."""

from __future__ import annotations

import numpy as np
import pytest

from scripts.scoring.change import change_map, change_summary, score_changes
from scripts.synthetic.labelmaps import reorient

SPACING = 1.5


def _ellipsoid(shape=(40, 36, 60), radii=(10.0, 8.0, 22.0), degrees=0.0, voxels=None) -> tuple[np.ndarray, np.ndarray]:
    """An ellipsoid (voxel radii) turned by ``degrees`` about the x axis; with ``voxels``, those voxels turned alike
    (nearest voxel) instead."""
    angle = np.radians(degrees)
    rotation = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    centre = np.array(shape) / 2.0
    local = (np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1) - centre) @ rotation
    if voxels is None:
        inside = ((local / np.asarray(radii)) ** 2).sum(axis=-1) <= 1.0
    else:
        index = np.clip(np.rint(local + centre).astype(int), 0, np.array(shape) - 1)
        inside = voxels[index[..., 0], index[..., 1], index[..., 2]]
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
    mapped = change_map(mask, affine, mask, moved)
    change, placed = mapped.change, mapped.alignment
    assert len(change) > 1000 and np.abs(change).max() < 1e-6 and placed.angle_deg < 1e-6
    assert change_summary(change, 1.0)["changed_surface_fraction"] == 0.0


def test_a_dent_in_the_second_visit_shows_where_the_dent_is_and_only_inward():
    mask, affine = _ellipsoid()
    dented, removed = _dented(mask)
    mapped = change_map(mask, affine, dented, affine)
    surface, change = mapped.surface, mapped.change
    dent_world = (np.argwhere(removed) * SPACING + affine[:3, 3]).mean(axis=0)
    near = np.linalg.norm(surface.vertices - dent_world, axis=1) < 12.0
    assert change.min() < -2.0 and change.max() < 0.3  # inward only: the alignment is not pulled into the dent
    moved = np.abs(change) > 0.5  # beyond a voxel's rounding: the dent, and only there
    assert near[moved].all() and near[np.argmin(change)]


def test_a_second_visit_given_in_another_orientation_changes_as_in_the_first():
    mask, affine = _ellipsoid()
    dented, _ = _dented(mask)
    same = change_map(mask, affine, dented, affine).change
    flipped, flipped_affine = reorient(dented, affine, "LPI")
    assert not np.array_equal(flipped, dented)
    other = change_map(mask, affine, flipped, flipped_affine).change
    np.testing.assert_allclose(other, same, atol=1e-6)


def _turned(dented: np.ndarray, degrees: float) -> np.ndarray:
    """The ellipsoid drawn turned by ``degrees`` about the x axis through its centre, with the same dent cut in the
    same (turned) place: the same muscle, the patient lying otherwise."""
    turned, _ = _ellipsoid(degrees=degrees)
    removed = _ellipsoid(degrees=degrees, voxels=~dented & _ellipsoid()[0])[0]
    return turned & ~removed


def test_a_second_visit_in_another_pose_is_aligned_and_shows_only_the_dent():
    """A patient lying 4 degrees turned at the second visit: unaligned, the muscle's ends would seem to move by
    about 2 mm; aligned, only the dent moves, beyond the half voxel of two drawings of one surface."""
    mask, affine = _ellipsoid()
    dented, removed = _dented(mask)
    mapped = change_map(mask, affine, _turned(dented, 4.0), affine)
    surface, change, placed = mapped.surface, mapped.change, mapped.alignment
    assert abs(placed.angle_deg - 4.0) < 0.3
    dent_world = (np.argwhere(removed) * SPACING + affine[:3, 3]).mean(axis=0)
    far = np.linalg.norm(surface.vertices - dent_world, axis=1) > 15.0
    assert np.percentile(np.abs(change[far]), 95) < 0.6 * SPACING and change[~far].min() < -2.0


def test_a_lighter_surface_carries_the_same_map():
    mask, affine = _ellipsoid()
    mapped = change_map(mask, affine, _dented(mask)[0], affine)
    surface, change = mapped.lighter(2)
    assert len(change) == len(surface.vertices) < len(mapped.change) / 2
    assert change.min() < -2.0 and change.max() < 0.3


def test_score_changes_keep_finite_numbers_of_both_visits():
    first = {"combined": 1.0, "dice": 0.9, "decision": "normal", "asd_mm": float("nan"), "flag": True}
    second = {"combined": 2.5, "dice": 0.8, "decision": "abnormal", "asd_mm": 0.3, "flag": False}
    changes = score_changes(first, second, ["combined", "dice", "decision", "asd_mm", "flag", "missing"])
    assert changes == {"combined": 1.5, "dice": pytest.approx(-0.1)}
