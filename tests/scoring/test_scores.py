"""The one table of scores: every score documented, and a new score is one function plus its row in the table."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from conftest import BUNDLE_ROOT

from scripts.scoring import scores
from scripts.scoring.reference import HealthyReference, check_decision_score
from scripts.scoring.scores import SCORES, Score


def _rows(rng, count: int) -> list[dict]:
    return [
        {
            "dice": float(rng.normal(0.97, 0.005)),
            "asd_mm": float(rng.normal(0.4, 0.05)),
            "hd95_mm": 1.0,
            "extra_fraction": float(abs(rng.normal(0.01, 0.003))),
            "missing_fraction": float(abs(rng.normal(0.01, 0.003))),
            "inward_depth_mm": float(abs(rng.normal(0.6, 0.1))),
            "volume_input_ml": float(rng.normal(60.0, 5.0)),
        }
        for _ in range(count)
    ]


def _calibrated(rng) -> HealthyReference:
    reference = HealthyReference()
    reference.latent.fit(torch.from_numpy(rng.normal(size=(30, 6))))
    rows = [{**row, **scores.subject_scores(row)} for row in _rows(rng, 12)]
    maps = [rng.normal(0.0, 0.3, (8, 6)) for _ in rows]
    reference.calibrate_on(rows, torch.from_numpy(rng.normal(size=(12, 6))), maps, [rng.normal(0, 0.05, 16)] * 12)
    return reference


def test_every_score_of_the_table_is_documented_in_the_model_card():
    card = (BUNDLE_ROOT / "docs" / "README.md").read_text()
    missing = [name for name in SCORES if not re.search(rf"`{name}`", card)]
    assert missing == []


def test_the_table_measures_and_calibrates_every_score_it_holds():
    reference = _calibrated(np.random.default_rng(0))
    assert set(reference.scores.healthy) == set(scores.named("calibrated")) | {"combined"}
    row = {**_rows(np.random.default_rng(1), 1)[0]}
    row.update(scores.subject_scores(row))
    out = reference.assess(row, np.zeros(6), np.zeros((8, 6)), np.zeros(16))
    for name in scores.named("calibrated") + ("combined",):
        assert {f"{name}_z", f"{name}_percentile", f"{name}_abnormal"} <= set(out), name


def test_a_new_score_is_one_function_and_one_row(monkeypatch):
    """Registered in the table alone, a score is measured, calibrated, judged and may decide."""

    def thin(row: dict) -> float:  # a throwaway subject score: less volume is more abnormal
        return -row["volume_input_ml"]

    def far_code(reference, fitted) -> float:  # a throwaway reference score: the code's largest coordinate
        return float(np.abs(np.asarray(fitted.code)).max())

    monkeypatch.setitem(SCORES, "thin", Score("thin muscle", "subject", thin))
    monkeypatch.setitem(SCORES, "far_code", Score("far code", "reference", far_code))
    reference = _calibrated(np.random.default_rng(2))
    assert {"thin", "far_code"} <= set(reference.scores.healthy)
    small = {**_rows(np.random.default_rng(3), 1)[0], "volume_input_ml": 20.0}
    small.update(scores.subject_scores(small))
    out = reference.assess(small, np.full(6, 9.0), np.zeros((8, 6)), np.zeros(16))
    assert out["thin_abnormal"] and out["far_code_abnormal"] and out["thin_percentile"] == 100.0
    check_decision_score(reference, "thin")  # it may decide
    with pytest.raises(ValueError, match="--decision_score thick: not a score this model is calibrated for"):
        check_decision_score(reference, "thick")
