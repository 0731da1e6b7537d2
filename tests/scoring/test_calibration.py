"""Decisions at a level: the share of new healthy subjects called abnormal is the level's, whatever the count."""

from __future__ import annotations

import numpy as np
import pytest

from scripts.scoring.calibration import ScoreCalibration, decision_threshold, normal_threshold


def _false_positive_rate(count: int, level: float, draws: int = 4000, rule=decision_threshold) -> float:
    """Mean share of new healthy subjects above the rule's threshold over many calibrations of ``count`` subjects."""
    rng = np.random.default_rng(0)
    calibration = rng.normal(size=(draws, count))
    new = rng.normal(size=(draws, 50))
    z = (new - calibration.mean(axis=1, keepdims=True)) / calibration.std(axis=1, ddof=1, keepdims=True)
    cut = rule(level, count) if rule is decision_threshold else rule(level)
    return float(np.mean(z > cut))


@pytest.mark.parametrize("count", [5, 10, 40])
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_the_predictive_threshold_calls_the_stated_share_of_new_healthy_subjects_abnormal(count, level):
    assert _false_positive_rate(count, level) == pytest.approx(1 - level, abs=0.004 + 0.1 * (1 - level))


def test_the_normal_quantile_calls_too_many_with_ten_healthy_subjects():
    """What the predictive threshold replaces: with 10 subjects at 95%, about 7.6% instead of 5%."""
    assert _false_positive_rate(10, 0.95, rule=normal_threshold) == pytest.approx(0.076, abs=0.006)
    assert decision_threshold(0.95, 10) > normal_threshold(0.95)
    assert decision_threshold(0.95, 1000) == pytest.approx(normal_threshold(0.95), abs=0.01)


def test_a_reference_of_one_subject_calls_nobody_abnormal():
    calibration = ScoreCalibration()
    calibration.store([{"recon_score": 0.02}], ["recon_score"])
    assert decision_threshold(0.95, 1) == float("inf")
    assert not calibration.judge("recon_score", 0.9, 0.95)["recon_score_abnormal"]


def test_judgements_and_thresholds_use_the_subjects_with_a_finite_value():
    calibration = ScoreCalibration()
    values = [0.01, 0.02, 0.03, 0.02, float("inf")]
    calibration.store([{"hd95_mm": v} for v in values], ["hd95_mm"])
    finite = np.array(values[:4])
    cut = finite.mean() + decision_threshold(0.95, 4) * max(finite.std(ddof=1), 0.25)
    assert calibration.thresholds(0.95)["hd95_mm"] == pytest.approx(cut)
    assert calibration.judge("hd95_mm", cut + 1e-6, 0.95)["hd95_mm_abnormal"]
    assert not calibration.judge("hd95_mm", cut - 1e-6, 0.95)["hd95_mm_abnormal"]
