"""Statistics of a scored cohort: ROC/AUC with bootstrap intervals, LDA of the codes with a permutation test."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics import roc_auc_score, roc_curve


def _finite(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    labels, scores = np.asarray(labels, dtype=int), np.asarray(scores, dtype=float)
    scores = np.where(np.isposinf(scores), np.finfo(float).max, scores)
    keep = np.isfinite(scores)
    return labels[keep], scores[keep]


def auc_not_computable(labels, scores) -> str:
    """Why no AUC can be computed from these subjects ("" when one can)."""
    labels, _ = _finite(labels, scores)
    present = set(labels.tolist())
    if present == {0, 1}:
        return ""
    missing = "no abnormal subject" if 1 not in present else "no healthy subject"
    return f"not computable: {missing} with a finite score"


def roc(labels, scores) -> tuple[np.ndarray, np.ndarray, float]:
    """ROC curve and AUC of ``scores`` (higher = positive) for binary ``labels``; empty curves and NaN when the
    subjects with a finite score are of one class only (``auc_not_computable``)."""
    if auc_not_computable(labels, scores):
        return np.array([]), np.array([]), float("nan")
    labels, scores = _finite(labels, scores)
    fpr, tpr, _ = roc_curve(labels, scores)
    return fpr, tpr, float(roc_auc_score(labels, scores))


def auc_with_ci(labels, scores, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> dict[str, float]:
    """AUC and its percentile bootstrap interval (resampling positives and negatives separately)."""
    labels, scores = _finite(labels, scores)
    positives, negatives = scores[labels == 1], scores[labels == 0]
    if len(positives) == 0 or len(negatives) == 0:
        return {"auc": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
    rng = np.random.default_rng(seed)
    auc = float(roc_auc_score(labels, scores))
    boot = np.empty(n_boot)
    for i in range(n_boot):
        pos = rng.choice(positives, len(positives))
        neg = rng.choice(negatives, len(negatives))
        boot[i] = np.mean(pos[:, None] > neg[None, :]) + 0.5 * np.mean(pos[:, None] == neg[None, :])
    tail = 100 * (1 - level) / 2
    return {"auc": auc, "ci_low": float(np.percentile(boot, tail)), "ci_high": float(np.percentile(boot, 100 - tail))}


def threshold_performance(labels, scores, threshold: float) -> dict[str, float]:
    """Sensitivity, specificity and balanced accuracy of calling ``score > threshold`` positive."""
    labels, scores = np.asarray(labels, dtype=int), np.asarray(scores, dtype=float)
    called = scores > threshold
    sensitivity = float(called[labels == 1].mean()) if np.any(labels == 1) else float("nan")
    specificity = float((~called[labels == 0]).mean()) if np.any(labels == 0) else float("nan")
    return {
        "threshold": float(threshold),
        "sensitivity": sensitivity,
        "specificity": specificity,
        "balanced_accuracy": 0.5 * (sensitivity + specificity),
    }


def fisher_score(projected: np.ndarray, groups: Sequence[str]) -> float:
    """Between-group over within-group scatter (traces) of points in the discriminant space."""
    groups = np.asarray(groups)
    overall = projected.mean(axis=0)
    between = within = 0.0
    for group in np.unique(groups):
        members = projected[groups == group]
        between += len(members) * np.sum((members.mean(axis=0) - overall) ** 2)
        within += np.sum((members - members.mean(axis=0)) ** 2)
    return float(between / max(within, 1e-12))


def _lda(codes: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Shrinkage LDA projection; on a degenerate scatter (a few subjects in many dimensions) the SVD solver."""
    with warnings.catch_warnings():  # a group of one subject (a small fold) has no covariance of its own
        warnings.simplefilter("ignore", UserWarning)
        try:
            return LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto").fit(codes, groups).transform(codes)
        except np.linalg.LinAlgError:
            return LinearDiscriminantAnalysis(solver="svd").fit(codes, groups).transform(codes)


def lda_not_computable(codes, groups: Sequence[str]) -> str:
    """Why LDA cannot separate these codes by group ("" when it can): one group, or no more subjects than groups."""
    classes = sorted(set(groups))
    if len(classes) < 2:
        return f"not computable: one group only ({classes[0] if classes else 'no subject'})"
    if len(codes) <= len(classes):
        return f"not computable: {len(codes)} subjects for {len(classes)} groups (LDA needs more subjects than groups)"
    return ""


def lda_analysis(codes, groups: Sequence[str], n_permutations: int = 500, seed: int = 0) -> dict:
    """Shrinkage LDA of the codes by group: projection, Fisher score, permutation p-value, PCA variance.

    With more dimensions than subjects, LDA separates even random labels somewhat; the permutation test (labels
    shuffled, LDA refitted) gives the Fisher score's null distribution, hence an honest p-value. Codes LDA cannot
    separate (``lda_not_computable``) give no projection, NaN figures and the reason as ``note``.
    """
    codes, groups = np.asarray(codes, dtype=np.float64), np.asarray(groups)
    note = lda_not_computable(codes, groups)
    if note:
        nan = float("nan")
        return {"projected": None, "fisher_score": nan, "p_value": nan, "n_permutations": 0, "note": note}
    projected = _lda(codes, groups)
    observed = fisher_score(projected, groups)
    rng = np.random.default_rng(seed)
    null = np.array(
        [
            fisher_score(_lda(codes, shuffled), shuffled)
            for shuffled in (rng.permutation(groups) for _ in range(n_permutations))
        ]
    )
    pca = PCA(n_components=min(10, *codes.shape)).fit(codes)
    return {
        "projected": projected,
        "fisher_score": observed,
        "p_value": float((1 + np.sum(null >= observed)) / (1 + n_permutations)),
        "n_permutations": n_permutations,
        "pca_explained_variance": pca.explained_variance_ratio_.tolist(),
        "note": "",
    }


def group_effect(table, value: str = "dice", reference_group: str = "Y") -> dict:
    """Effect of the group on ``value``, with folds and repeated subjects accounted for.

    Primary: a linear mixed model ``value ~ group + fold`` with a random intercept per subject (statsmodels), since
    sarcopenic subjects are tested in every fold. Alternative, assumption-free: Kruskal-Wallis across groups on
    each subject's mean value. ``table`` is a pandas DataFrame with columns ``id``, ``group``, ``cv_fold``, value.
    """
    import statsmodels.formula.api as smf
    from scipy.stats import kruskal

    out: dict = {}
    per_subject = table.groupby(["id", "group"], as_index=False)[value].mean()
    samples = [g[value].to_numpy() for _, g in per_subject.groupby("group")]
    if len(samples) > 1:
        try:
            out["kruskal_h"], out["kruskal_p"] = (float(x) for x in kruskal(*samples))
        except ValueError as error:  # e.g. every value identical
            out["kruskal_error"] = f"not computable: {error}"
    else:
        out["kruskal_error"] = "not computable: one group only"
    formula = f"{value} ~ C(group, Treatment('{reference_group}')) + C(cv_fold)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = smf.mixedlm(formula, table, groups=table["id"]).fit(reml=True)
        for name, coefficient in fit.params.items():
            if name.startswith("C(group"):
                group = name.split("[T.")[-1].rstrip("]")
                out[f"mixed_{group}_vs_{reference_group}"] = float(coefficient)
                out[f"mixed_{group}_vs_{reference_group}_p"] = float(fit.pvalues[name])
        out["mixed_converged"] = bool(fit.converged)
    except (ValueError, np.linalg.LinAlgError) as error:  # e.g. a singular design on a tiny cohort
        out["mixed_error"] = f"not computable: {error}"
    return out
