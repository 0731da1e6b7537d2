"""Group summaries of a scored, labelled cohort: AUC of each score, Dice per group, LDA of the codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import figures
from .statistics import auc_with_ci, lda_analysis, roc

ANOMALY_SCORES = ("recon_score", "hd95_mm", "asd_mm", "latent_distance", "combined")
PUBLISHED_DICE_THRESHOLD = 0.93


def group_summary(rows: list[dict], codes: dict[str, np.ndarray], figure_dir: str | Path) -> dict:
    """Figures under ``figure_dir`` and the numbers behind them (positives: subjects not marked healthy).

    The volume baseline scores a subject by minus its muscle volume (atrophy means less muscle).
    """
    figure_dir = Path(figure_dir)
    groups = [str(r["group"]) for r in rows]
    positive = np.array([0 if r.get("healthy", r["group"] in ("Y", "OH")) else 1 for r in rows])
    out: dict = {"groups": {g: groups.count(g) for g in dict.fromkeys(groups)}}
    if 0 < positive.sum() < len(positive):
        curves = {}
        candidates = {name: [r.get(name, np.nan) for r in rows] for name in ANOMALY_SCORES if name in rows[0]}
        candidates["volume (baseline)"] = [-r["volume_input_ml"] for r in rows]
        for name, values in candidates.items():
            key = "volume_baseline" if name.startswith("volume") else name
            stats = auc_with_ci(positive, values)
            out.update(
                {
                    f"auc_{key}": stats["auc"],
                    f"auc_{key}_ci_low": stats["ci_low"],
                    f"auc_{key}_ci_high": stats["ci_high"],
                }
            )
            curves[name] = roc(positive, values)
        figures.roc_curves(curves, "abnormal (not healthy) vs healthy", figure_dir / "roc.png")
    dice = {g: [r["dice"] for r, gg in zip(rows, groups, strict=True) if gg == g] for g in dict.fromkeys(groups)}
    for group, values in dice.items():
        out[f"mean_dice_{group}"] = float(np.mean(values))
    figures.group_boxplot(
        dice,
        "Dice of the reconstruction",
        "reconstruction Dice per group",
        figure_dir / "dice_per_group.png",
        line=("published threshold 0.93", PUBLISHED_DICE_THRESHOLD),
    )
    ids = [str(r["id"]) for r in rows]
    if len(set(groups)) > 1 and all(i in codes for i in ids):
        lda = lda_analysis(np.stack([codes[i] for i in ids]), groups)
        out.update(lda_fisher_score=lda["fisher_score"], lda_p_value=lda["p_value"])
        figures.lda_scatter(
            lda["projected"],
            groups,
            f"LDA of the codes (Fisher {lda['fisher_score']:.2f}, p = {lda['p_value']:.3f})",
            figure_dir / "lda_codes.png",
        )
    return out
