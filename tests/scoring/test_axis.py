"""The abnormal axis: learned from a few labelled cases, stored with the model, refused where it cannot hold."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from scripts.data.datalist import DatalistError, validation_items
from scripts.scoring.axis import AbnormalAxis, AxisError
from scripts.scoring.reference import HealthyReference


def _codes(rng, n, shift=0.0, dim=24):
    """Codes whose healthy variation lies mostly in a few directions, as a trained model's do; abnormal ones are
    shifted along one of them."""
    spread = np.r_[np.linspace(3.0, 1.0, 6), np.full(dim - 6, 0.1)]
    codes = rng.normal(size=(n, dim)) * spread
    codes[:, 2] += shift
    return codes


def test_an_axis_from_two_cases_places_new_abnormal_muscles_beyond_healthy_ones():
    rng = np.random.default_rng(0)
    axis = AbnormalAxis()
    axis.learn(_codes(rng, 40), _codes(rng, 2, shift=5.0))
    assert axis.describe() == {"labelled_cases": 2, "healthy_subjects": 40, "method": "mean_difference"}
    healthy, abnormal = axis.score(_codes(rng, 100)), axis.score(_codes(rng, 100, shift=5.0))
    assert abs(healthy.mean()) < 0.3 and abnormal.mean() > 1.5  # in healthy standard deviations, signed
    assert roc_auc_score(np.r_[np.zeros(100), np.ones(100)], np.r_[healthy, abnormal]) > 0.8
    lda = AbnormalAxis()
    lda.learn(_codes(rng, 40), _codes(rng, 12, shift=5.0), method="shrinkage_lda")
    assert lda.method == "shrinkage_lda" and lda.score(_codes(rng, 50, shift=5.0)).mean() > 1.5
    with pytest.raises(AxisError, match="cohort.json: the abnormal axis needs at least 2 subjects marked abnormal"):
        AbnormalAxis().learn(_codes(rng, 40), _codes(rng, 1), source="cohort.json")


def test_one_subjects_code_is_judged_as_that_subject():
    """Inference holds one subject's code as ``[D]`` (a torch tensor): judged as one row, it scores what the same code
    scores in a stack (a ``[D]`` code once read as D codes of one number, and every axis score was wrong)."""
    import torch

    rng = np.random.default_rng(1)
    axis = AbnormalAxis()
    axis.learn(_codes(rng, 40), _codes(rng, 8, shift=5.0))
    stack = _codes(rng, 5, shift=5.0)
    expected = axis.score(stack)
    for row, value in zip(stack, expected, strict=True):
        assert axis.judge(torch.from_numpy(row).float(), 0.95)["axis_score"] == pytest.approx(value, abs=1e-5)
        assert axis.score(row) == pytest.approx([value])


def test_a_model_with_an_axis_round_trips_and_refuses_an_axis_of_another_latent_space(tmp_path):
    rng = np.random.default_rng(1)
    reference = HealthyReference()
    reference.latent.fit(torch.from_numpy(_codes(rng, 30)))
    rows = [{"recon_score": float(v)} for v in rng.normal(0.02, 0.005, 8)]
    reference.calibrate_on(rows, torch.from_numpy(_codes(rng, 8)), [np.zeros((4, 4))] * 8)
    reference.axis.learn(_codes(rng, 30), _codes(rng, 3, shift=5.0))
    torch.save({"reference": reference.state_dict()}, tmp_path / "model.pt")
    loaded = HealthyReference()
    loaded.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True)["reference"])
    code = _codes(rng, 1, shift=5.0)
    assert loaded.assess(rows[0], code) == reference.assess(rows[0], code)
    assert (
        reference.assess(rows[0], code)["axis_score_abnormal"]
        and loaded.describe()["abnormal_axis"]["labelled_cases"] == 3
    )
    other = HealthyReference()
    other.axis.learn(_codes(rng, 30, dim=16), _codes(rng, 3, shift=5.0, dim=16))
    foreign = {**reference.state_dict(), **other.axis.state_dict()}
    with pytest.raises(ValueError, match="abnormal axis was learned in another latent space"):
        HealthyReference().load_state_dict(foreign)
    without = HealthyReference()
    without.load_state_dict({k: v for k, v in reference.state_dict().items() if not k.startswith("axis_")})
    assert without.describe()["abnormal_axis"]["labelled_cases"] == 0 and "axis_score" not in without.assess(
        rows[0], code
    )


def test_an_axis_asked_for_without_labelled_cases_is_refused_naming_the_datalist(tiny_cohort, tmp_path):
    datalist = json.loads((tiny_cohort / "datalist.json").read_text())
    path = tmp_path / "datalist.json"
    path.write_text(
        json.dumps(
            {**datalist, "subjects": [dict(s, image=str(tiny_cohort / s["image"])) for s in datalist["subjects"]]}
        )
    )
    with pytest.raises(
        DatalistError,
        match=r"datalist\.json: --abnormal_axis true needs at least 2 subjects marked abnormal .* it lists 0",
    ):
        validation_items(path, 0, abnormal_axis=True)
    assert {item["role"] for item in validation_items(path, 0)} == {"calibration"}  # no labelled case: no axis
    labelled = json.loads(path.read_text())
    labelled["folds"][0]["train"] += [s["id"] for s in labelled["subjects"] if not s["healthy"]][:2]
    path.write_text(json.dumps(labelled))
    items = validation_items(path, 0)
    assert sum(item["role"] == "axis" and not item["healthy"] for item in items) == 2
    assert all("case_index" not in item for item in items)
    assert validation_items(path, 0, abnormal_axis=False) == [i for i in items if i["role"] == "calibration"]
