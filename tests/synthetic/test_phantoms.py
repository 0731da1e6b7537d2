"""The synthetic muscle shapes: plausible spindles whose groups differ in shape rather than size."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from scripts.synthetic import phantoms


def _mask(group: str, seed: int = 0, spacing=(1.0, 1.0, 1.0)):
    shape = phantoms.sample_shape(group, np.random.default_rng(seed))
    grid, affine = phantoms.world_grid(shape, spacing)
    return shape, phantoms.inside(shape, grid), affine


def test_muscle_is_a_tapered_spindle():
    shape, mask, affine = _mask("Y")
    area = mask.sum(axis=(0, 1)).astype(float)
    occupied = np.flatnonzero(area)
    length_mm = (occupied[-1] - occupied[0] + 1) * affine[2, 2]
    assert 0.85 * shape.length < length_mm <= shape.length + 2
    belly = area.max()
    # tendons: the cross-section shrinks to a small fraction of the belly at both ends
    assert area[occupied[0]] < 0.15 * belly and area[occupied[-1]] < 0.15 * belly
    peak = int(np.argmax(area))
    assert occupied[0] + 0.25 * len(occupied) < peak < occupied[-1] - 0.25 * len(occupied)
    # one connected, hole-free body: every axial slice between the tendons is occupied
    assert np.all(area[occupied[0] : occupied[-1] + 1] > 0)
    width, thickness = phantoms.mid_section_extent(mask, affine)
    assert thickness < width  # flattened ellipse, wider than thick


def test_sarcopenic_shape_is_flatter_with_a_concavity():
    healthy = phantoms.sample_shape("Y", np.random.default_rng(1))
    sarcopenic = phantoms.sample_shape("OS", np.random.default_rng(1))
    assert healthy.flattening == healthy.atrophy_depth == healthy.distal_thinning == 0.0
    assert sarcopenic.flattening > 0 and sarcopenic.atrophy_depth > 0 and sarcopenic.distal_thinning > 0
    weaker = phantoms.sample_shape("OS", np.random.default_rng(1), strength=0.5)
    assert weaker.flattening == pytest.approx(0.5 * sarcopenic.flattening)


def test_atrophy_removes_tissue_where_it_is_placed():
    shape = phantoms.sample_shape("OS", np.random.default_rng(3))
    grid, _ = phantoms.world_grid(shape, (1.0, 1.0, 1.0))
    with_atrophy = phantoms.inside(shape, grid)
    shape.atrophy_depth = 0.0
    without = phantoms.inside(shape, grid)
    removed = without & ~with_atrophy
    assert removed.sum() > 100 and not np.any(with_atrophy & ~without)
    z = grid[..., 2][removed] / shape.length + 0.5
    assert abs(np.median(z) - shape.atrophy_position) < 0.1


def test_subject_variation_is_about_twenty_percent():
    rng = np.random.default_rng(5)
    lengths = np.array([phantoms.sample_shape("Y", rng).length for _ in range(300)])
    spread = (np.percentile(lengths, 97.5) - np.percentile(lengths, 2.5)) / 2 / lengths.mean()
    assert 0.12 < spread < 0.3


def test_unknown_group_and_bad_spacing_are_rejected():
    with pytest.raises(ValueError, match="unknown group"):
        phantoms.sample_shape("XX", np.random.default_rng(0))
    shape = phantoms.sample_shape("Y", np.random.default_rng(0))
    with pytest.raises(ValueError, match="spacing"):
        phantoms.world_grid(shape, (1.0, 0.0, 1.0))


def test_volume_alone_is_a_weak_marker_but_shape_separates(demo_cohort):
    import pandas as pd

    truth = pd.read_csv(demo_cohort / "ground_truth.csv")
    is_os = (truth["group"] == "OS").astype(int)
    volume_auc = roc_auc_score(is_os, truth["volume_ml"])
    aspect_auc = roc_auc_score(is_os, -truth["mid_aspect"])  # sarcopenic muscles are flatter
    assert max(volume_auc, 1 - volume_auc) < 0.8
    assert aspect_auc > max(volume_auc, 1 - volume_auc)
    # older healthy muscles are mildly thinner than young ones, far less than sarcopenic ones
    means = truth.groupby("group")["mid_aspect"].mean()
    assert means["OS"] < means["OH"] < means["Y"]
    assert means["Y"] - means["OH"] < 0.5 * (means["OH"] - means["OS"])
