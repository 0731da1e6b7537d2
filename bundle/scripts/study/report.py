"""The study's tables and figures, computed from the folds' scores (nothing typed in), and its headline figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .. import figures
from ..checkpoints import load_checkpoint
from ..datalist import load_split
from ..files import write_csv, write_json
from ..writers import SubjectOutputs
from .analysis import PUBLISHED_DICE_THRESHOLD
from .baselines import score_fold
from .report_html import write_html
from .statistics import auc_with_ci, group_effect, lda_analysis, roc, threshold_performance

SHAPE_SCORES = {
    "recon_score": "1 - Dice",
    "asd_mm": "ASD",
    "hd95_mm": "HD95",
    "latent_distance": "latent distance",
    "combined": "combined",
}
BASELINE_SCORES = {
    "volume_score": "volume (baseline)",
    "ssm_recon_score": "voxel-PCA SSM error (baseline)",
    "ssm_mahalanobis": "voxel-PCA SSM Mahalanobis (baseline)",
}
METRICS = ("dice", "hd95_mm", "asd_mm", "volume_error_pct")


def load_scores(fold_results: list[dict], dataset_dir: Path, label: int) -> pd.DataFrame:
    """All folds' test rows with the baselines' scores of the same subjects in the same folds."""
    frames = []
    for fold, result in enumerate(fold_results):
        document = json.loads(Path(result["scores"]).read_text())
        rows = pd.DataFrame(document["subjects"]).assign(recon_threshold=document["thresholds"]["recon_score"])
        cv_fold = int(Path(result["root"]).name.removeprefix("fold"))
        datalist = dataset_dir / "datalist.json"
        baselines = pd.DataFrame(
            score_fold(load_split(datalist, cv_fold, "train"), load_split(datalist, cv_fold, "test"), label)
        )
        frames.append(rows.merge(baselines, on="id").assign(cv_fold=cv_fold, run=fold))
    table = pd.concat(frames, ignore_index=True)
    table["positive"] = (~table["healthy"].astype(bool)).astype(int)
    return table


def auc_table(table: pd.DataFrame) -> pd.DataFrame:
    """AUC of every score, abnormal vs healthy: pooled over subjects (repeats averaged) with a bootstrap CI, and
    the mean and spread over folds."""
    per_subject = subject_means(table)
    rows = []
    for column, name in {**SHAPE_SCORES, **BASELINE_SCORES}.items():
        pooled = auc_with_ci(per_subject["positive"], per_subject[column])
        folds = [roc(g["positive"], g[column])[2] for _, g in table.groupby("cv_fold")]
        rows.append(
            {
                "score": name,
                "column": column,
                "kind": "baseline" if column in BASELINE_SCORES else "shape model",
                "auc": pooled["auc"],
                "ci_low": pooled["ci_low"],
                "ci_high": pooled["ci_high"],
                "fold_auc_mean": float(np.mean(folds)),
                "fold_auc_sd": float(np.std(folds, ddof=1)),
            }
        )
    return pd.DataFrame(rows)


def fold_codes(result: dict, table: pd.DataFrame, groups_by_id: dict[str, str]) -> tuple[np.ndarray, list[str]]:
    """A fold's training codes (its latent table) and its test subjects' fitted codes, with their groups."""
    state = load_checkpoint(Path(result["models"]) / "model.pt", map_location="cpu")["latent_table"]
    codes = list(state["codes.weight"].numpy())
    groups = [groups_by_id[i] for i in state["_extra_state"]["case_ids"]]
    outputs = SubjectOutputs(Path(result["scores"]).parent)
    cv_fold = int(Path(result["root"]).name.removeprefix("fold"))
    for subject in table.loc[table["cv_fold"] == cv_fold, "id"]:
        codes.append(np.load(outputs.code(subject)))
        groups.append(groups_by_id[subject])
    return np.stack(codes), groups


def build_report(fold_results: list[dict], datalist: dict, dataset_dir: Path, out: Path) -> dict:
    """Write every table (CSV), figure (PNG) and the HTML report under ``out``; return the headline figures."""
    out.mkdir(parents=True, exist_ok=True)
    table = load_scores(fold_results, dataset_dir, int(datalist.get("label", 1)))
    write_csv(table.to_dict("records"), out / "per_subject_scores.csv")
    summary = table.groupby(["group", "cv_fold"])[list(METRICS)].agg(["mean", "std"])
    summary.columns = [f"{m}_{s}" for m, s in summary.columns]
    write_csv(summary.reset_index().to_dict("records"), out / "metrics_by_group_and_fold.csv")
    per_subject = subject_means(table)
    order = [g for g in ("Y", "OH", "OS") if g in set(table["group"])]
    for metric in METRICS:
        values = {g: per_subject.loc[per_subject["group"] == g, metric] for g in order}
        line = ("published threshold 0.93", PUBLISHED_DICE_THRESHOLD) if metric == "dice" else None
        figures.group_boxplot(
            values, metric, f"{metric} per group (subject means over folds)", out / f"box_{metric}.png", line=line
        )

    aucs = auc_table(table)
    write_csv(aucs.to_dict("records"), out / "auc.csv")
    subjects = subject_means(table)
    curves = {row.score: roc(subjects["positive"], subjects[row.column]) for row in aucs.itertuples()}
    figures.roc_curves(curves, "abnormal vs healthy, subjects pooled over folds", out / "roc.png")

    thresholds = [
        {
            "rule": "published: Dice < 0.93",
            **threshold_performance(table["positive"], -table["dice"], -PUBLISHED_DICE_THRESHOLD),
            "threshold": PUBLISHED_DICE_THRESHOLD,
        },
        {
            "rule": "calibrated on healthy validation subjects (95%), per fold",
            **threshold_performance(table["positive"], table["recon_score"] - table["recon_threshold"], 0.0),
            "threshold": float(1.0 - table["recon_threshold"].mean()),
        },
        {
            "rule": "combined score z > 1.645 (95%, calibrated)",
            **threshold_performance(table["positive"], table["combined_z"], 1.6448536269514722),
        },
    ]
    write_csv(thresholds, out / "thresholds.csv")

    effect = group_effect(table, "dice")
    write_json(effect, out / "group_effect_dice.json")

    groups_by_id = {s["id"]: s["group"] for s in datalist["subjects"]}
    lda_rows = []
    for result in fold_results:
        codes, groups = fold_codes(result, table, groups_by_id)
        lda = lda_analysis(codes, groups, n_permutations=200)
        cv_fold = int(Path(result["root"]).name.removeprefix("fold"))
        lda_rows.append(
            {
                "cv_fold": cv_fold,
                "fisher_score": lda["fisher_score"],
                "p_value": lda["p_value"],
                "pca_variance_3": float(np.sum(lda["pca_explained_variance"][:3])),
            }
        )
        figures.lda_scatter(
            lda["projected"],
            groups,
            f"fold {cv_fold}: LDA of training and test codes "
            f"(Fisher {lda['fisher_score']:.2f}, p = {lda['p_value']:.3f})",
            out / f"lda_fold{cv_fold}.png",
        )
    write_csv(lda_rows, out / "lda.csv")

    headline = headline_figures(table, aucs, thresholds, effect, lda_rows)
    write_json(headline, out / "headline.json")
    write_html(out, headline, aucs, thresholds, effect, lda_rows, summary.reset_index())
    return headline


def subject_means(table: pd.DataFrame) -> pd.DataFrame:
    """One row per subject: sarcopenic subjects are tested in every fold, their scores are averaged."""
    return table.groupby(["id", "group", "positive"], as_index=False).mean(numeric_only=True)


def headline_figures(table, aucs, thresholds, effect, lda_rows) -> dict:
    headline = {f"mean_dice_{g}": float(v) for g, v in table.groupby("group")["dice"].mean().items()}
    headline.update({f"auc_{row.column}": float(row.auc) for row in aucs.itertuples()})
    best_shape = aucs[aucs["kind"] == "shape model"].sort_values("auc").iloc[-1]
    best_baseline = aucs[aucs["kind"] == "baseline"].sort_values("auc").iloc[-1]
    headline.update(
        best_shape_score=best_shape["score"],
        best_baseline=best_baseline["score"],
        baseline_wins=bool(best_baseline["auc"] > best_shape["auc"]),
    )
    headline["lda_p_value_max"] = float(max(r["p_value"] for r in lda_rows))
    headline["lda_fisher_mean"] = float(np.mean([r["fisher_score"] for r in lda_rows]))
    headline["published_threshold_balanced_accuracy"] = thresholds[0]["balanced_accuracy"]
    headline["calibrated_threshold_balanced_accuracy"] = thresholds[1]["balanced_accuracy"]
    for key in ("kruskal_p", "mixed_OS_vs_Y_p"):
        if key in effect:
            headline[f"dice_group_effect_{key}"] = effect[key]
    return headline
