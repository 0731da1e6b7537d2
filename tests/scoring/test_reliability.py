"""Test-retest statistics and the change calibration on measurements whose noise is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scripts.errors import InputError
from scripts.scoring.reliability import (
    ChangeCalibration,
    icc_3_1,
    minimal_detectable_change,
    reliability_table,
    within_subject_sd,
)


def _retest(n: int = 4000, true_sd: float = 2.0, noise_sd: float = 1.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = rng.normal(10.0, true_sd, n)
    return truth + rng.normal(0, noise_sd, n), truth + rng.normal(0, noise_sd, n)


def test_icc_sem_and_mdc_recover_the_noise_they_were_drawn_with():
    first, second = _retest()
    assert icc_3_1(first, second) == pytest.approx(4.0 / 5.0, abs=0.02)  # true variance over total
    assert within_subject_sd(first, second) == pytest.approx(1.0, rel=0.03)
    assert minimal_detectable_change(first, second) == pytest.approx(1.96 * math.sqrt(2.0), rel=0.03)


def test_a_systematic_shift_between_visits_leaves_the_consistency_icc_alone():
    first, second = _retest(n=200, seed=1)
    assert icc_3_1(first, second + 3.0) == pytest.approx(icc_3_1(first, second), abs=1e-12)
    assert within_subject_sd(first, second + 3.0) == pytest.approx(within_subject_sd(first, second), abs=1e-12)
    assert icc_3_1(first, first) == 1.0 and within_subject_sd(first, first) == pytest.approx(0.0, abs=1e-12)


def test_pairs_with_a_missing_value_are_left_out_and_too_few_give_nan():
    table = reliability_table([{"a": 1.0}, {"a": math.nan}, {"a": 3.0}], [{"a": 1.1}, {"a": 2.0}, {"a": 2.9}], ["a"])
    assert table["a"]["pairs"] == 2 and math.isnan(table["a"]["icc_3_1"])


def test_the_change_calibration_decides_beyond_the_stable_pairs_spread_and_survives_a_checkpoint():
    rng = np.random.default_rng(2)
    stable = [{"combined_change": float(v), "code_displacement": abs(float(v))} for v in rng.normal(0.1, 0.5, 200)]
    calibration = ChangeCalibration()
    calibration.fit(stable)
    assert calibration.sd["combined_change"] == pytest.approx(0.5, rel=0.1)
    assert calibration.threshold(0.95) == pytest.approx(1.977, abs=0.01)  # t(0.975; 199) sqrt(1 + 1/200)
    assert calibration.judge({"combined_change": 2.0}, "combined_change", 0.95)["changed"] is True
    judged = calibration.judge(
        {"combined_change": 0.3, "code_displacement": 0.4, "dice_change": 0.1}, "combined_change", 0.95
    )
    assert judged["changed"] is False and set(judged) == {"combined_change_z", "code_displacement_z", "changed"}
    assert judged["combined_change_z"] == pytest.approx(
        (0.3 - calibration.mean["combined_change"]) / calibration.sd["combined_change"]
    )
    calibration.reliability = {"combined": {"icc_3_1": 0.4, "within_subject_sd": 0.3, "mdc95": 0.8, "pairs": 200}}
    again = ChangeCalibration()
    again.load_state_dict(calibration.state_dict())
    assert again.state_dict() == calibration.state_dict() and again.ready
    assert again.reliability["combined"]["mdc95"] == 0.8
    older = {k: v for k, v in calibration.state_dict().items() if k != "reliability"}  # a model file of 0.8.2
    again.load_state_dict(older)
    assert again.reliability == {} and again.sd == calibration.sd
    with pytest.raises(InputError, match="--change_score dice_change: the change calibration has no spread for it"):
        again.judge({"dice_change": 0.1}, "dice_change", 0.95)


def test_fewer_stable_pairs_than_a_spread_needs_are_refused_naming_the_source():
    with pytest.raises(InputError, match="pairs.json: 2 stable pairs"):
        ChangeCalibration().fit([{"a": 0.1}, {"a": 0.2}], "pairs.json")
