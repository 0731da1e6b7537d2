"""DeLong's paired test: its standard error and its level."""

from __future__ import annotations

import numpy as np
import pytest

from scripts.scoring.delong import delong_test


def test_delong_agrees_with_the_bootstrap_and_holds_its_level():
    """The paired test's standard error matches a paired bootstrap of the same subjects, and under equal AUCs it
    rejects at about its nominal rate."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(100), np.ones(100)]
    shared = rng.normal(size=200)  # the two scores are correlated, as two scores of the same subjects are
    strong, weak = labels + shared + rng.normal(size=200), 0.5 * labels + shared + rng.normal(size=200)
    result = delong_test(labels, strong, weak)
    assert result["auc_a"] == pytest.approx(roc_auc_score(labels, strong))
    assert result["difference"] > 0 and result["p_value"] < 0.01
    differences = []
    for _ in range(500):
        pick = np.r_[rng.choice(100, 100), 100 + rng.choice(100, 100)]
        differences.append(roc_auc_score(labels[pick], strong[pick]) - roc_auc_score(labels[pick], weak[pick]))
    assert result["se"] == pytest.approx(np.std(differences), rel=0.15)
    assert delong_test(labels, strong, strong)["p_value"] == 1.0
    rejections = [
        delong_test(labels, labels + s + rng.normal(size=200), labels + s + rng.normal(size=200))["p_value"] < 0.05
        for s in rng.normal(size=(300, 200))
    ]
    assert 0.02 < np.mean(rejections) < 0.09
