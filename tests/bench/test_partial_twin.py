"""The comparison behind ``bench/partial_twin.py`` (the INR against its classical twin on the same observed voxels), on
rows whose answer is planted."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "bench"))  # the benchmarks import their siblings by name
twin = pytest.importorskip("partial_twin")
partial = pytest.importorskip("partial_observations")


def _planted(count: int = 40) -> tuple[list[dict], dict, dict]:
    """Half healthy: the INR's latent distance separates the groups perfectly, the twin's distance not at all; the
    INR restores every subject 0.01 better."""
    rng = np.random.default_rng(0)
    inr, twin_rows, dice = [], {}, {}
    for i in range(count):
        sick = i % 2 == 1
        inr.append(
            {
                "id": f"s{i}",
                "healthy": not sick,
                "latent_distance_z": 3.0 + rng.random() if sick else rng.random(),
                "recon_score_z": rng.random(),
                "combined_z": 3.0 + rng.random() if sick else rng.random(),
            }
        )
        twin_rows[f"s{i}"] = {
            "ssm_observed_distance": rng.random(),
            "ssm_observed_recon": rng.random(),
            "full_dice": 0.93 + 0.001 * i,
        }
        dice[f"s{i}"] = 0.94 + 0.001 * i
    return inr, twin_rows, dice


def test_each_inr_score_meets_its_twin_on_the_same_subjects():
    inr, twin_rows, dice = _planted()
    twin.calibrated_combined(twin_rows, {k: v for k, v in twin_rows.items() if int(k[1:]) % 2 == 0})
    found = twin.compare(inr, twin_rows, dice)
    assert found["subjects"] == 40 and found["sarcopenic"] == 20
    distance = found["auc"]["latent_distance"]
    assert distance["inr"]["auc"] == 1.0 and distance["twin_score"] == "ssm_observed_distance"
    assert distance["delong"]["difference"] > 0.3 and distance["delong"]["p_value"] < 0.01
    assert found["auc"]["combined"]["twin_score"] == "ssm_observed_combined"
    for group, count in (("healthy", 20), ("sarcopenic", 20), ("all", 40)):
        assert found["dice"][group]["subjects"] == count and found["dice"][group]["inr_better"] == count
        assert found["dice"][group]["difference"] == pytest.approx(0.01)
        assert found["dice"][group]["p_value"] < 0.001


def test_the_twin_combined_is_the_mean_z_of_its_two_scores_against_healthy_ones():
    rows = {"a": {"ssm_observed_distance": 1.0, "ssm_observed_recon": 0.1}}
    reference = {
        "h1": {"ssm_observed_distance": 0.0, "ssm_observed_recon": 0.0},
        "h2": {"ssm_observed_distance": 2.0, "ssm_observed_recon": 0.2},
    }
    twin.calibrated_combined(rows, reference)
    spread = np.std([0.0, 2.0], ddof=1)
    assert rows["a"]["ssm_observed_distance_z"] == pytest.approx((1.0 - 1.0) / spread)
    assert rows["a"]["ssm_observed_combined"] == pytest.approx(0.0)


def test_a_scored_file_finds_its_full_mask_in_the_cohort_it_was_made_from(tmp_path):
    given, full = tmp_path / "given", tmp_path / "full"
    assert partial.full_mask_file(str(given / "healthy" / "images" / "Y_000.nii.gz"), given, full) == (
        full / "healthy" / "images" / "Y_000.nii.gz"
    )
    elsewhere = str(tmp_path / "linked" / "images" / "Y_001.nii.gz")  # a file of the cohort reached through a link
    assert partial.full_mask_file(elsewhere, full, full) == tmp_path / "linked" / "images" / "Y_001.nii.gz"


def test_the_card_summary_keeps_each_comparison_rounded():
    inr, twin_rows, dice = _planted()
    twin.calibrated_combined(twin_rows, twin_rows)
    figures = {
        "bundle_version": "x",
        "run": "r.json",
        "twin_settings": {},
        "results": {"c": {"o": twin.compare(inr, twin_rows, dice)}},
    }
    found = twin.card_summary(figures)["results"]["c"]["o"]
    assert found["auc"]["latent_distance"]["inr"] == 1.0 and found["dice"]["healthy"]["inr_better"] == 20
    assert found["dice"]["all"]["difference"] == pytest.approx(0.01, abs=1e-4)
