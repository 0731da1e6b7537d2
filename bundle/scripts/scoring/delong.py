"""DeLong's paired test of two AUCs on the same subjects: the comparison every benchmark and report makes."""

from __future__ import annotations

import numpy as np


def _placements(positives: np.ndarray, negatives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components: each positive's share of negatives below it, each negative's share of
    positives above it (ties count half)."""
    above = (positives[:, None] > negatives[None, :]) + 0.5 * (positives[:, None] == negatives[None, :])
    return above.mean(axis=1), above.mean(axis=0)


def delong_test(labels, scores_a, scores_b) -> dict[str, float]:
    """Paired DeLong test of two AUCs on the same subjects (DeLong et al. 1988): the difference ``auc_a - auc_b``,
    its standard error and the two-sided p-value. Subjects where either score is not finite are left out of both."""
    from scipy.stats import norm

    labels = np.asarray(labels, dtype=int)
    a = np.where(np.isposinf(scores_a), np.finfo(float).max, np.asarray(scores_a, dtype=float))
    b = np.where(np.isposinf(scores_b), np.finfo(float).max, np.asarray(scores_b, dtype=float))
    keep = np.isfinite(a) & np.isfinite(b)
    labels, a, b = labels[keep], a[keep], b[keep]
    positive, negative = labels == 1, labels == 0
    m, n = int(positive.sum()), int(negative.sum())
    if m < 2 or n < 2:
        return {
            "auc_a": float("nan"),
            "auc_b": float("nan"),
            "difference": float("nan"),
            "se": float("nan"),
            "p_value": float("nan"),
        }
    components = [_placements(s[positive], s[negative]) for s in (a, b)]
    aucs = np.array([v10.mean() for v10, _ in components])
    s10 = np.cov(np.stack([v10 for v10, _ in components]))
    s01 = np.cov(np.stack([v01 for _, v01 in components]))
    covariance = s10 / m + s01 / n
    variance = covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]
    difference = float(aucs[0] - aucs[1])
    se = float(np.sqrt(max(variance, 0.0)))
    if se == 0.0:
        p_value = 1.0 if difference == 0.0 else 0.0
    else:
        p_value = float(2 * norm.sf(abs(difference) / se))
    return {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "difference": difference, "se": se, "p_value": p_value}
