"""The study's per-subject table: every fold's scored test subjects beside the baselines on the same folds.

Shape-model scores are pooled over folds as the calibrated z-scores each fold's model gives (every fold's model has
its own scale). Every subject counts once in pooled figures, scored by one fold's model, as healthy subjects are:
sarcopenic subjects, tested in every fold, count with their axis fold (``folds.axis_fold``, the fold whose abnormal axis
never saw their label) or, when that fold was not run, the next one run (column ``pooled``). Averaging them over five
models while healthy subjects have one would shrink their noise alone and flatter every pooled AUC.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.datalist import load_split, read_datalist
from ..layout import StudyLayout, cohort_datalist
from ..scoring.reference import SCORE_LABELS
from ..scoring.statistics import auc_not_computable, auc_with_ci, roc
from ..visualize.groups import abnormal_labels
from .baselines import BASELINE_LABELS, KNOWS_THE_ANOMALY, score_fold
from .folds import axis_fold, axis_held_out

METRICS = ("dice", "hd95_mm", "asd_mm", "volume_error_pct")


def load_scores(layout: StudyLayout, folds: list[int], dataset_dir: Path, label: int) -> pd.DataFrame:
    """All folds' test rows, with the fold's calibration and the baselines' scores of the same subjects."""
    frames, aligned = [], {}
    datalist = Path(cohort_datalist(dataset_dir))
    for fold in folds:
        document = json.loads(layout.scores(fold).read_text())
        calibration = document.get("calibration") or {}
        rows = pd.DataFrame(document["subjects"]).assign(
            recon_threshold=calibration.get("thresholds", {}).get("recon_score", np.nan),
            level=calibration.get("level", np.nan),
            reference_subjects=calibration.get("reference_subjects", np.nan),
            decision_score=document.get("decision_score", "combined"),
        )
        baselines = pd.DataFrame(
            score_fold(load_split(datalist, fold, "train"), load_split(datalist, fold, "test"), label, aligned)
        )
        frames.append(rows.merge(baselines, on="id").assign(cv_fold=fold))
    table = pd.concat(frames, ignore_index=True)
    table["positive"] = abnormal_labels(table.to_dict("records"))
    num_folds = len(read_datalist(datalist)["folds"])
    table["pooled"] = pooled_rows(table, num_folds)
    return held_out_axis_scores(table, num_folds)


def pooled_rows(table: pd.DataFrame, num_folds: int) -> np.ndarray:
    """Which row of each subject counts in pooled figures: its only one, or for a subject tested in several folds,
    the first of its axis fold, the next fold, ... that was run."""
    tested = table.groupby("id")["cv_fold"].agg(lambda folds: {int(f) for f in folds}).to_dict()
    chosen = {}
    for subject, folds in tested.items():
        first = axis_fold(subject, num_folds)
        chosen[subject] = next(f for f in ((first + k) % num_folds for k in range(num_folds)) if f in folds)
    return np.array([chosen[r.id] == int(r.cv_fold) for r in table.itertuples()])


def held_out_axis_scores(table: pd.DataFrame, num_folds: int) -> pd.DataFrame:
    """Keep each subject's abnormal-axis score only from folds whose axis its own label did not help build
    (``folds.axis_held_out``); elsewhere it is blanked, so that no figure rests on a subject's own label."""
    columns = [c for c in table.columns if c.startswith("axis_score")]
    if not columns:
        return table
    keep = [axis_held_out(r.id, r.positive == 0, r.cv_fold, num_folds) for r in table.itertuples()]
    table = table.astype(dict.fromkeys(columns, float))  # a blanked decision is NaN, not False
    table.loc[~np.array(keep), columns] = np.nan
    return table


def subject_rows(table: pd.DataFrame) -> pd.DataFrame:
    """One row per subject, scored by one fold's model (``pooled``)."""
    return table[table["pooled"]].reset_index(drop=True)


def score_columns(table: pd.DataFrame) -> dict[str, tuple[str, str, str]]:
    """Score name -> (column compared, label, kind) for every score the table holds."""
    columns = {}
    for name, label in SCORE_LABELS.items():
        if f"{name}_z" in table:
            columns[name] = (f"{name}_z", label, "shape model")
        elif name in table:
            columns[name] = (name, label, "shape model")
    for name, label in BASELINE_LABELS.items():
        kind = "reference (knows the anomaly)" if name in KNOWS_THE_ANOMALY else "baseline"
        columns[name] = (name, label, kind)
    return columns


def auc_table(table: pd.DataFrame) -> pd.DataFrame:
    """AUC of every score, abnormal vs healthy: pooled over subjects with a bootstrap CI, and over folds."""
    per_subject = subject_rows(table)
    rows = []
    for name, (column, label, kind) in score_columns(table).items():
        pooled = auc_with_ci(per_subject["positive"], per_subject[column])
        note = auc_not_computable(per_subject["positive"], per_subject[column])
        folds = [roc(g["positive"], g[column])[2] for _, g in table.groupby("cv_fold") if g["positive"].nunique() > 1]
        folds = [auc for auc in folds if np.isfinite(auc)]
        rows.append(
            {
                "score": label,
                "column": name,
                "kind": kind,
                "auc": pooled["auc"],
                "ci_low": pooled["ci_low"],
                "ci_high": pooled["ci_high"],
                "fold_auc_mean": float(np.mean(folds)) if folds else float("nan"),
                "fold_auc_sd": float(np.std(folds, ddof=1)) if len(folds) > 1 else float("nan"),
                "note": note,
            }
        )
    return pd.DataFrame(rows)


def metrics_by_group(table: pd.DataFrame) -> pd.DataFrame:
    summary = table.groupby(["group", "cv_fold"])[list(METRICS)].agg(["mean", "std"])
    summary.columns = [f"{m}_{s}" for m, s in summary.columns]
    return summary.reset_index()


def write_tables(out: Path, table, summary, aucs, rules, effect, lda_rows) -> None:
    """The report's tables as CSV (and the group effect as JSON) beside the HTML page."""
    from ..data.files import write_csv, write_json

    write_csv(table.to_dict("records"), out / "per_subject_scores.csv")
    write_csv(summary.to_dict("records"), out / "metrics_by_group_and_fold.csv")
    write_csv(aucs.to_dict("records"), out / "auc.csv")
    write_csv(rules, out / "thresholds.csv")
    write_csv(lda_rows, out / "lda.csv")
    write_json(effect, out / "group_effect_dice.json")
