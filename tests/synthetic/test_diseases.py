"""The disease families of the OS group: each changes the muscle where and how it should, and nothing else; the
default family is the original generator, bit for bit."""

from __future__ import annotations

import dataclasses

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from conftest import TINY_SPACING, load_datalist

from scripts.synthetic import diseases, healthy, phantoms
from scripts.synthetic.cohort import generate_cohort

# The original generator's OS draws for seed 0 (recorded before the families existed): length, width, thickness,
# flattening, atrophy depth, position and angle, distal thinning.
ORIGINAL_OS = [
    (155.21193126524335, 33.03521663613941, 20.734555330049194, 0.1567105000636161, 0.2193947000890625,
     0.40706080402162503, 1.3723184130583703, 0.1880526000763393),
    (167.85012526436722, 40.08499127509366, 23.48229148554011, 0.19441000270464995, 0.2721740037865099,
     0.4915649859381695, 1.7723598374479181, 0.23329200324557992),
]  # fmt: skip
# Its tiny cohort (conftest's ``tiny_cohort``): muscle voxels, mid-section width and thickness (mm) per subject.
ORIGINAL_TINY = {
    "Y_000": (3762, 37.5, 25.0), "Y_001": (3284, 37.5, 20.0), "Y_002": (3612, 37.5, 22.5), "Y_003": (5036, 42.5, 22.5),
    "OH_000": (4610, 40.0, 20.0), "OH_001": (5053, 45.0, 22.5), "OH_002": (4649, 40.0, 22.5),
    "OH_003": (4857, 40.0, 20.0), "OS_000": (2678, 35.0, 17.5), "OS_001": (3834, 42.5, 17.5),
    "OS_002": (2411, 32.5, 15.0), "OS_003": (4587, 45.0, 17.5),
}  # fmt: skip
FIELDS = ("flattening", "atrophy_depth", "distal_thinning", "proximal_thinning")


def _pair(disease: str, seed: int = 4, strength: float = 1.0):
    """An OS subject with ``disease`` and the same subject without it, both unposed and straight (the muscle frame),
    as masks on one grid, with the grid's points."""
    rng = np.random.default_rng(seed)
    base = healthy.spindle_shape("OS", rng, 4.0)
    base = dataclasses.replace(base, rotation_deg=(0.0, 0.0, 0.0), twist_deg=0.0, bend_lateral=0.0, bend_anterior=0.0)
    sick = diseases.apply_disease(dataclasses.replace(base), disease, strength, rng)
    grid, _ = phantoms.world_grid(
        dataclasses.replace(base, length=1.3 * base.length, width=1.3 * base.width), TINY_SPACING
    )
    return base, sick, phantoms.inside(base, grid), phantoms.inside(sick, grid), grid


def _spread(shape, mask: np.ndarray, grid: np.ndarray, low: float, high: float) -> np.ndarray:
    """Standard deviations of x and y (mm) over the muscle between the levels ``low`` and ``high`` of its own length:
    proportional to the width and thickness of its cross-sections there."""
    t = grid[..., 2] / shape.length + 0.5
    return grid[..., :2][mask & (t > low) & (t < high)].std(axis=0)


def _length(mask: np.ndarray) -> int:
    """Extent of the muscle along the long axis, in slices."""
    return int(np.ptp(np.flatnonzero(mask.any(axis=(0, 1))))) + 1


def test_flattening_is_the_original_generator(tiny_cohort):
    for index, expected in enumerate(ORIGINAL_OS):
        shape = phantoms.sample_shape("OS", np.random.default_rng([0, 2, index]))
        drawn = (shape.length, shape.width, shape.thickness, shape.flattening, shape.atrophy_depth)
        drawn += (shape.atrophy_position, shape.atrophy_angle, shape.distal_thinning)
        assert drawn == pytest.approx(expected, rel=1e-12, abs=1e-12)
        assert shape.disease == "flattening" and shape.proximal_thinning == 0 and not shape.displacement
    truth = pd.read_csv(tiny_cohort / "ground_truth.csv").set_index("id")
    voxel_ml = np.prod(TINY_SPACING) / 1000.0
    for subject, (voxels, width, thickness) in ORIGINAL_TINY.items():
        row = truth.loc[subject]
        assert round(row["volume_ml"] / voxel_ml) == voxels
        assert (row["mid_width_mm"], row["mid_thickness_mm"]) == (width, thickness)


@pytest.mark.parametrize("disease", phantoms.DISEASES)
def test_each_family_sets_only_its_own_change(disease):
    rng = np.random.default_rng(11)
    base = healthy.spindle_shape("OS", rng, 4.0)
    sick = phantoms.sample_shape("OS", np.random.default_rng(11), strength=0.4, disease=disease)
    assert sick.disease == disease and 0.2 <= sick.severity <= 0.4
    changed = {name for name in FIELDS if getattr(sick, name) != 0}
    changed |= {name for name in ("length_factor", "section_factor") if getattr(sick, name) != 1}
    expected = {
        "flattening": {"flattening", "atrophy_depth", "distal_thinning"},
        "focal_dent": {"atrophy_depth"},
        "proximal_thinning": {"proximal_thinning"},
        "distal_thinning": {"distal_thinning"},
        "short_wide": {"length_factor", "section_factor"},
        "uniform_wasting": {"section_factor"},
    }[disease]
    assert changed == expected
    # the same muscle before the change: the family's draws come after the healthy model's
    assert sick.length / sick.length_factor == pytest.approx(base.length)
    assert sick.width / sick.section_factor == pytest.approx(base.width)
    assert sick.rotation_deg == base.rotation_deg and sick.perturbation == base.perturbation


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_focal_dent_removes_tissue_at_its_level_and_side_only(seed):
    base, sick, healthy_mask, dented, grid = _pair("focal_dent", seed)
    assert 0.2 <= sick.atrophy_position <= 0.8 and 0 <= sick.atrophy_angle <= 2 * np.pi
    assert sick.flattening == sick.distal_thinning == 0
    removed = healthy_mask & ~dented
    assert not np.any(dented & ~healthy_mask) and 0.01 < removed.sum() / healthy_mask.sum() < 0.06
    t = grid[..., 2] / base.length + 0.5
    assert abs(np.median(t[removed]) - sick.atrophy_position) < 0.05 and np.all(
        abs(t[removed] - sick.atrophy_position) < 0.3
    )
    # the side: the polar angle of the (unflattened, untwisted) cross-section around the axis
    side = np.cos(np.arctan2(grid[..., 1] / base.thickness, grid[..., 0] / base.width) - sick.atrophy_angle)
    assert np.all(side[removed] > 0)
    assert np.array_equal(healthy_mask[side < 0], dented[side < 0])  # the opposite side is untouched


def test_focal_dents_lie_at_random_levels_and_sides():
    shapes = [phantoms.sample_shape("OS", np.random.default_rng([0, 2, i]), disease="focal_dent") for i in range(40)]
    positions = np.array([s.atrophy_position for s in shapes])
    angles = np.array([s.atrophy_angle for s in shapes])
    assert positions.min() < 0.35 and positions.max() > 0.65 and np.all((positions >= 0.2) & (positions <= 0.8))
    assert np.all(np.histogram(angles, bins=4, range=(0, 2 * np.pi))[0] > 0)  # every quadrant around the axis
    depths = np.array([s.atrophy_depth for s in shapes])
    assert np.all((depths >= 0.35 * 0.5) & (depths <= 0.35))


@pytest.mark.parametrize("disease, thinned", [("proximal_thinning", (0.05, 0.3)), ("distal_thinning", (0.7, 0.95))])
def test_thinning_reduces_the_thickness_of_its_own_end(disease, thinned):
    base, sick, healthy_mask, thin, grid = _pair(disease)
    removed = healthy_mask & ~thin
    assert not np.any(thin & ~healthy_mask) and removed.sum() > 0.02 * healthy_mask.sum()
    t = grid[..., 2] / base.length + 0.5
    assert np.all(t[removed] < 0.5) if disease == "proximal_thinning" else np.all(t[removed] > 0.5)
    width_ratio, thickness_ratio = _spread(sick, thin, grid, *thinned) / _spread(base, healthy_mask, grid, *thinned)
    assert abs(width_ratio - 1) < 0.03  # the width stays
    assert thickness_ratio < 1 - 0.5 * 0.3 * sick.severity


def test_short_wide_is_shorter_and_wider_with_about_the_same_volume():
    base, sick, healthy_mask, short, grid = _pair("short_wide")
    assert sick.length_factor == pytest.approx(1 - 0.2 * sick.severity)
    assert sick.section_factor == pytest.approx(1 + 0.1 * sick.severity)
    assert abs(_length(short) - sick.length_factor * _length(healthy_mask)) <= 1.5
    ratio = _spread(sick, short, grid, 0.3, 0.6) / _spread(base, healthy_mask, grid, 0.3, 0.6)
    assert np.all(ratio > 1 + 0.05 * sick.severity)
    assert 0.9 < short.sum() / healthy_mask.sum() < 1.05


def test_uniform_wasting_shrinks_the_cross_section_in_both_directions():
    base, sick, healthy_mask, wasted, grid = _pair("uniform_wasting")
    assert sick.section_factor == pytest.approx(1 - 0.15 * sick.severity) and sick.length_factor == 1
    assert not np.any(wasted & ~healthy_mask) and abs(_length(wasted) - _length(healthy_mask)) <= 1
    ratio = _spread(sick, wasted, grid, 0.3, 0.6) / _spread(base, healthy_mask, grid, 0.3, 0.6)
    assert np.all(ratio < 1 - 0.075 * sick.severity)
    assert wasted.sum() / healthy_mask.sum() < (1 - 0.05 * sick.severity) ** 2


def test_a_seed_gives_the_same_healthy_subjects_whatever_the_disease(tmp_path, tiny_cohort):
    counts = {"n_young": 4, "n_older": 4, "n_sarcopenic": 4, "spacing": TINY_SPACING, "num_folds": 3}
    other = generate_cohort(tmp_path, disease="uniform_wasting", progress=False, **counts).parent
    assert load_datalist(other)["generator"]["disease"] == "uniform_wasting"
    for subject in load_datalist(tiny_cohort)["subjects"]:
        a = np.asarray(nib.load(tiny_cohort / subject["image"]).dataobj)
        b = np.asarray(nib.load(other / subject["image"]).dataobj)
        assert (a.shape == b.shape and np.array_equal(a, b)) == subject["healthy"], subject["id"]
    truth = pd.read_csv(other / "ground_truth.csv").set_index("id")
    original = pd.read_csv(tiny_cohort / "ground_truth.csv").set_index("id")
    sick = truth["group"] == "OS"
    assert set(truth.loc[sick, "disease"]) == {"uniform_wasting"} and truth.loc[~sick, "disease"].isna().all()
    # the same OS muscles before the change: same length, section scaled by the recorded factor
    assert np.allclose(truth.loc[sick, "length"], original.loc[sick, "length"])
    assert np.allclose(truth.loc[sick, "width"], original.loc[sick, "width"] * truth.loc[sick, "section_factor"])
    assert np.all(truth.loc[sick, "volume_ml"] < original.loc[sick, "volume_ml"] * 1.1)
