"""Group analysis of a scored cohort with its figures, shared by the evaluation summaries and the study report.

Who is abnormal comes from each subject's ``healthy`` flag (the datalist's), never from group names: groups are only
labels for display, healthy groups first. Detection is ROC AUC of abnormal against healthy subjects with a bootstrap
interval; the codes are analysed by shrinkage LDA with a permutation test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..scoring.reference import SCORE_LABELS
from ..scoring.statistics import auc_with_ci, lda_analysis, roc
from . import figures

PUBLISHED_DICE_THRESHOLD = 0.93


def abnormal_labels(rows: Sequence[Mapping]) -> np.ndarray:
    """1 for subjects not marked healthy, 0 for healthy ones."""
    return np.array([0 if _flag(r["healthy"]) else 1 for r in rows])


def _flag(value) -> bool:
    return value.strip().lower() == "true" if isinstance(value, str) else bool(value)


def group_order(rows: Sequence[Mapping]) -> tuple[list[str], dict[str, str]]:
    """Groups in display order (healthy ones first, then as they appear) and a colour for each."""
    groups = list(dict.fromkeys(str(r.get("group", "all")) for r in rows))
    healthy = {str(r.get("group", "all")) for r in rows if _flag(r["healthy"])}
    order = [g for g in groups if g in healthy] + [g for g in groups if g not in healthy]
    return order, figures.group_colours(order, healthy)


def detection(labels, candidates: Mapping[str, Sequence[float]], n_boot: int = 2000) -> dict[str, dict]:
    """AUC (abnormal = 1) with a bootstrap 95% interval and the ROC curve of each candidate score."""
    out = {}
    for name, values in candidates.items():
        stats = auc_with_ci(labels, values, n_boot=n_boot)
        stats["curve"] = roc(labels, values) if 0 < np.sum(labels) < len(labels) else None
        out[name] = stats
    return out


def roc_figure(results: Mapping[str, dict], title: str, path: str | Path) -> Path:
    curves = {name: r["curve"] for name, r in results.items() if r.get("curve") is not None}
    return figures.roc_curves(curves, title, path)


def dice_figure(rows: Sequence[Mapping], path: str | Path, title: str = "reconstruction Dice per group") -> Path:
    order, colours = group_order(rows)
    values = {g: [float(r["dice"]) for r in rows if str(r.get("group", "all")) == g] for g in order}
    line = ("published threshold 0.93", PUBLISHED_DICE_THRESHOLD)
    return figures.group_boxplot(values, "Dice of the reconstruction", title, path, line=line, colours=colours)


def codes_lda(codes: np.ndarray, groups: Sequence[str], colours: Mapping[str, str], path, title: str, **kwargs):
    """Shrinkage LDA of the codes by group, its figure, and the Fisher score with its permutation p-value; codes LDA
    cannot separate (``statistics.lda_not_computable``) get no figure, and their ``note`` says why."""
    lda = lda_analysis(np.asarray(codes), list(groups), **kwargs)
    if lda["note"]:
        return lda
    figures.lda_scatter(
        lda["projected"],
        list(groups),
        f"{title} (Fisher {lda['fisher_score']:.2f}, p = {lda['p_value']:.3f})",
        path,
        colours=colours,
    )
    return lda


def group_summary(rows: list[dict], codes: dict[str, np.ndarray], figure_dir: str | Path) -> dict:
    """An evaluation's group summary: figures under ``figure_dir`` and the numbers behind them.

    The volume baseline scores a subject by minus its muscle volume (atrophy means less muscle).
    """
    figure_dir = Path(figure_dir)
    order, colours = group_order(rows)
    groups = [str(r.get("group", "all")) for r in rows]
    labels = abnormal_labels(rows)
    out: dict = {"groups": {g: groups.count(g) for g in order}}
    if 0 < labels.sum() < len(labels):
        candidates = {name: [r.get(name, np.nan) for r in rows] for name in SCORE_LABELS if name in rows[0]}
        candidates["volume_baseline"] = [-r["volume_input_ml"] for r in rows]
        results = detection(labels, candidates)
        for name, stats in results.items():
            out.update({f"auc_{name}": stats["auc"], f"auc_{name}_ci_low": stats["ci_low"]})
            out[f"auc_{name}_ci_high"] = stats["ci_high"]
        labelled = {SCORE_LABELS.get(n, "volume (baseline)"): r for n, r in results.items()}
        roc_figure(labelled, "abnormal (not healthy) vs healthy", figure_dir / "roc.png")
    for group in order:
        out[f"mean_dice_{group}"] = float(np.mean([r["dice"] for r, g in zip(rows, groups, strict=True) if g == group]))
    dice_figure(rows, figure_dir / "dice_per_group.png")
    ids = [str(r["id"]) for r in rows]
    if len(set(groups)) > 1 and all(i in codes for i in ids):
        codes_array = np.stack([codes[i] for i in ids])
        lda = codes_lda(codes_array, groups, colours, figure_dir / "lda_codes.png", "LDA of the codes")
        out.update(lda_fisher_score=lda["fisher_score"], lda_p_value=lda["p_value"])
        out.update({"lda_note": lda["note"]} if lda["note"] else {})
    return out
