"""Statistics: AUC with bootstrap intervals, threshold performance, LDA with a permutation test."""

from __future__ import annotations

import numpy as np
import pytest

from scripts.scoring.statistics import auc_not_computable, auc_with_ci, lda_analysis, roc, threshold_performance


def test_auc_and_its_interval():
    labels = np.array([0] * 20 + [1] * 20)
    perfect = auc_with_ci(labels, np.arange(40.0), n_boot=200)
    assert perfect["auc"] == perfect["ci_low"] == perfect["ci_high"] == 1.0
    rng = np.random.default_rng(0)
    noisy = auc_with_ci(labels, labels + rng.normal(0, 1.0, 40), n_boot=500)
    assert noisy["ci_low"] < noisy["auc"] < noisy["ci_high"] and 0.6 < noisy["auc"] < 1.0
    fpr, tpr, auc = roc(labels, np.r_[np.arange(20.0), np.full(20, np.inf)])  # infinite scores count as highest
    assert auc == 1.0 and fpr[0] == 0 and tpr[-1] == 1


def test_threshold_performance():
    out = threshold_performance([0, 0, 1, 1], [0.1, 0.6, 0.7, 0.2], threshold=0.5)
    assert out["sensitivity"] == 0.5 and out["specificity"] == 0.5 and out["balanced_accuracy"] == 0.5


@pytest.mark.parametrize("separation, significant", [(3.0, True), (0.0, False)])
def test_lda_permutation_test_separates_real_groups_only(separation, significant):
    rng = np.random.default_rng(1)
    groups = np.array(["A"] * 15 + ["B"] * 15 + ["C"] * 15)
    codes = rng.normal(size=(45, 20))
    codes[groups == "B", 0] += separation
    codes[groups == "C", 1] += separation
    out = lda_analysis(codes, groups, n_permutations=99)
    assert out["projected"].shape == (45, 2) and len(out["pca_explained_variance"]) == 10
    assert (out["p_value"] < 0.05) == significant


def test_what_cannot_be_computed_on_a_small_fold_says_why():
    """Three subjects of three groups, or one group only: no LDA, a reason instead of an error."""
    codes = np.random.default_rng(2).normal(size=(3, 8))
    crowded = lda_analysis(codes, ["Y", "OH", "OS"], n_permutations=9)
    assert crowded["projected"] is None and np.isnan(crowded["p_value"])
    assert crowded["note"] == "not computable: 3 subjects for 3 groups (LDA needs more subjects than groups)"
    assert lda_analysis(codes, ["Y"] * 3)["note"] == "not computable: one group only (Y)"
    assert lda_analysis(np.vstack([codes, codes + 5]), ["Y"] * 3 + ["OS"] * 3, n_permutations=9)["note"] == ""
    missing = auc_not_computable([0, 0, 1], [0.1, 0.2, np.nan])
    assert missing == "not computable: no abnormal subject with a finite score"
    assert np.isnan(roc([0, 0, 1], [0.1, 0.2, np.nan])[2]) and auc_not_computable([0, 1], [0.1, 0.2]) == ""
