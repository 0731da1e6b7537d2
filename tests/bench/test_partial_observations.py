"""The comparison code behind ``bench/partial_observations.py``: a setting's effect on the same subjects, and the card's
summary, on runs whose answer is planted."""

from __future__ import annotations

import sys

import pytest
from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "bench"))  # the benchmarks import their siblings by name
partial = pytest.importorskip("partial_observations")


def _run(dice: dict[str, float], healthy: set[str]) -> dict:
    found = [v for k, v in dice.items() if k in healthy]
    return {
        "observed_fraction": 0.1,
        "full_dice_healthy": sum(found) / len(found),
        "full_dice_healthy_min": min(found),
        "healthy_at_least_095": sum(v >= 0.95 for v in found) / len(found),
        "full_dice_sarcopenic": 0.9,
        "full_dice_by_subject": dice,
        "auc": {"combined": {"auc": 0.7, "ci_low": 0.5, "ci_high": 0.9}},
    }


def test_a_setting_is_judged_subject_by_subject_on_the_subjects_both_runs_scored():
    ids = [f"s{i}" for i in range(12)]
    before = {i: 0.93 + 0.001 * k for k, i in enumerate(ids)}
    after = {i: v + (0.01 if k < 11 else -0.002) for k, (i, v) in enumerate(before.items())}
    after["only_now"] = 0.5  # scored in one run only: not compared
    earlier = {"mild": {"planes": _run(before, set(ids[:5]))}}
    now = {"mild": {"planes": _run(after, set(ids[:5])), "slices": _run(after, set(ids[:5]))}}
    paired = partial.paired_dice(earlier, now)
    found = paired["mild"]["planes"]
    assert set(paired["mild"]) == {"planes"} and found["subjects"] == 12 and found["better"] == 11
    assert found["difference"] == pytest.approx((11 * 0.01 - 0.002) / 12)
    assert found["p_value"] < 0.01
    same = partial.paired_dice(earlier, {"mild": {"planes": _run(before, set(ids[:5]))}})["mild"]["planes"]
    assert same["difference"] == 0 and same["p_value"] == 1.0 and same["better"] == 0


def test_the_card_summary_keeps_the_dice_the_worst_healthy_subject_and_the_auc():
    run = _run({"h1": 0.96, "h2": 0.94, "s1": 0.9}, {"h1", "h2"})
    figures = {"bundle_version": "x", "fit_translation": "true", "folds": [0], "results": {"mild": {"planes": run}}}
    summary = partial.card_summary(figures)["results"]["mild"]["planes"]
    assert summary["full_dice_healthy_min"] == 0.94 and summary["healthy_at_least_095"] == 0.5
    assert summary["auc_combined"] == 0.7 and "full_dice_by_subject" not in summary
