"""The study's tables and figures, computed from the folds' scores (nothing typed in), and its headline figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..data.files import write_json
from ..layout import StudyLayout, SubjectFiles
from ..scoring.calibration import decision_threshold
from ..scoring.delong import delong_test
from ..scoring.statistics import group_effect, threshold_performance
from ..visualize import figures
from ..visualize.groups import PUBLISHED_DICE_THRESHOLD, codes_lda, detection, group_order, roc_figure
from ..visualize.summary_page import subject_view
from ..visualize.views3d import views_html
from .folds import axis_held_out
from .learned_shape import learned_shapes
from .report_html import write_html
from .tables import METRICS, auc_table, load_scores, metrics_by_group, score_columns, subject_rows, write_tables


def fold_codes(layout: StudyLayout, fold: int, test_ids: list[str], groups_by_id: dict[str, str]):
    """The fitted codes of a fold's held-out test subjects (none of them trained the fold's model or labelled its
    abnormal axis), with their groups."""
    files = SubjectFiles(layout.scores_dir(fold))
    return np.stack([np.load(files.code(subject)) for subject in test_ids]), [groups_by_id[i] for i in test_ids]


def fold_lda_rows(layout: StudyLayout, folds: list[int], table, datalist: dict, colours: dict, out: Path) -> list[dict]:
    """Per fold, shrinkage LDA of the held-out test codes by group (its figure ``lda_fold<k>.png``), or why it could
    not be computed (``note``: a small fold may hold fewer subjects than groups)."""
    groups_by_id = {s["id"]: s["group"] for s in datalist["subjects"]}
    held_out = table.assign(
        keep=[axis_held_out(r.id, r.positive == 0, r.cv_fold, len(datalist["folds"])) for r in table.itertuples()]
    )
    rows = []
    for fold in folds:
        test_ids = list(held_out.loc[(held_out["cv_fold"] == fold) & held_out["keep"], "id"])
        codes, groups = fold_codes(layout, fold, test_ids, groups_by_id) if test_ids else (np.zeros((0, 1)), [])
        title = f"fold {fold}: LDA of held-out test codes"
        lda = codes_lda(codes, groups, colours, out / f"lda_fold{fold}.png", title, n_permutations=200)
        variance = float(np.sum(lda["pca_explained_variance"][:3])) if not lda["note"] else float("nan")
        rows.append({"cv_fold": fold, "fisher_score": lda["fisher_score"], "p_value": lda["p_value"]})
        rows[-1].update(pca_variance_3=variance, subjects=len(test_ids), note=lda["note"])
    return rows


def decision_rules(table: pd.DataFrame) -> list[dict]:
    """The published Dice threshold beside thresholds calibrated on each fold's healthy validation subjects."""
    level = float(table["level"].iloc[0])
    decision = str(table["decision_score"].iloc[0])
    rules = [
        {
            "rule": f"published: Dice < {PUBLISHED_DICE_THRESHOLD}",
            **threshold_performance(table["positive"], -table["dice"], -PUBLISHED_DICE_THRESHOLD),
        },
        {
            "rule": f"1 - Dice above its healthy {level:.0%} threshold, per fold",
            **threshold_performance(table["positive"], table["recon_score"] - table["recon_threshold"], 0.0),
        },
    ]
    if f"{decision}_z" in table:
        cuts = np.array([decision_threshold(level, int(n)) for n in table["reference_subjects"]])
        shown = ", ".join(f"{c:.3f}" for c in sorted(set(cuts.round(3))))
        rule = f"decision score ({decision}) above its healthy {level:.0%} threshold, per fold (z > {shown})"
        rules.append({"rule": rule, **threshold_performance(table["positive"], table[f"{decision}_z"] - cuts, 0.0)})
    return rules


def build_report(layout: StudyLayout, folds: list[int], datalist: dict, dataset_dir: Path, out: Path) -> dict:
    """Write every table (CSV), figure (PNG) and the HTML report under ``out``; return the headline figures."""
    out.mkdir(parents=True, exist_ok=True)
    table = load_scores(layout, folds, dataset_dir, int(datalist.get("label", 1)))
    per_subject = subject_rows(table)
    order, colours = group_order(table.to_dict("records"))
    for metric in METRICS:
        values = {g: per_subject.loc[per_subject["group"] == g, metric] for g in order}
        line = ("published threshold 0.93", PUBLISHED_DICE_THRESHOLD) if metric == "dice" else None
        title = f"{metric} per group (each subject once, by one fold's model)"
        figures.group_boxplot(values, metric, title, out / f"box_{metric}.png", line=line, colours=colours)

    aucs = auc_table(table)
    columns = score_columns(table)
    candidates = {columns[n][1]: per_subject[columns[n][0]] for n in aucs["column"]}
    roc_figure(detection(per_subject["positive"], candidates, n_boot=1), "abnormal vs healthy", out / "roc.png")
    rules = decision_rules(table)
    healthy_groups = [g for g in order if not table.loc[table["group"] == g, "positive"].any()]
    effect = group_effect(table, "dice", reference_group=healthy_groups[0] if healthy_groups else order[0])

    lda_rows = fold_lda_rows(layout, folds, table, datalist, colours, out)

    summary = metrics_by_group(table)
    write_tables(out, table, summary, aucs, rules, effect, lda_rows)
    headline = headline_figures(table, aucs, rules, effect, lda_rows, order)
    headline.update(decision_against_baseline(per_subject, aucs, columns, str(table["decision_score"].iloc[0])))
    write_json(headline, out / "headline.json")
    shapes = shape_views(layout, folds[0], table, order, out)
    write_html(out, headline, aucs, rules, effect, lda_rows, summary, order, shapes)
    return headline


def shape_views(layout: StudyLayout, fold: int, table: pd.DataFrame, order: list[str], out: Path) -> str:
    """HTML of 3D views: the most typical and the most abnormal test subject of each group of ``fold`` (by the
    decision score), then what the fold's model has learned abnormal to mean."""
    rows = table[table["cv_fold"] == fold]
    if rows.empty:
        return ""
    decision = str(rows["decision_score"].iloc[0])
    column = f"{decision}_z" if f"{decision}_z" in rows else "recon_score"
    files, views = SubjectFiles(layout.scores_dir(fold)), []
    for group in order:
        members = rows[rows["group"] == group].sort_values(column).to_dict("records")
        if not members:  # a small fold may test no subject of a group
            continue
        for row in {r["id"]: r for r in (members[len(members) // 2], members[-1])}.values():
            view = subject_view(files, row, decision)
            if view is not None:
                views.append(view)
    codes = {i: np.load(files.code(i)) for i in rows["id"]}
    healthy = [codes[i] for i in rows.loc[rows["positive"] == 0, "id"]]
    abnormal = [codes[i] for i in rows.loc[rows["positive"] == 1, "id"]]
    if abnormal and len(healthy) > 1:
        views.append(learned_shapes(layout.model(fold), np.stack(healthy), np.stack(abnormal), out))
    return views_html(views)


def decision_against_baseline(per_subject: pd.DataFrame, aucs: pd.DataFrame, columns: dict, decision: str) -> dict:
    """The decision score beside the best baseline on the same subjects: both AUCs and a paired DeLong test."""
    baseline = aucs[aucs["kind"] == "baseline"].sort_values("auc").iloc[-1]
    if decision not in columns or decision not in set(aucs["column"]):
        return {"decision_score": decision, "best_baseline": baseline["score"]}
    ours = aucs.set_index("column").loc[decision]
    test = delong_test(
        per_subject["positive"], per_subject[columns[decision][0]], per_subject[columns[baseline["column"]][0]]
    )
    return {
        "decision_score": decision,
        "decision_score_label": columns[decision][1],
        "auc_decision": float(ours["auc"]),
        "auc_decision_ci": [float(ours["ci_low"]), float(ours["ci_high"])],
        "best_baseline": baseline["score"],
        "auc_best_baseline": float(baseline["auc"]),
        "decision_minus_baseline": test["difference"],
        "delong_p": test["p_value"],
        "baseline_wins": bool(baseline["auc"] > ours["auc"]),
    }


def headline_figures(table, aucs, rules, effect, lda_rows, order) -> dict:
    headline = {f"mean_dice_{g}": float(table.loc[table["group"] == g, "dice"].mean()) for g in order}
    headline.update({f"auc_{row.column}": float(row.auc) for row in aucs.itertuples()})
    best_shape = aucs[aucs["kind"] == "shape model"].sort_values("auc").iloc[-1]
    best_baseline = aucs[aucs["kind"] == "baseline"].sort_values("auc").iloc[-1]
    headline.update(
        best_shape_score=best_shape["score"],
        best_baseline=best_baseline["score"],
        folds=sorted(int(f) for f in table["cv_fold"].unique()),
    )
    computed = [r for r in lda_rows if not r["note"]]
    headline["lda_p_value_max"] = float(max(r["p_value"] for r in computed)) if computed else float("nan")
    headline["lda_fisher_mean"] = float(np.mean([r["fisher_score"] for r in computed])) if computed else float("nan")
    headline["lda_folds_not_computable"] = [int(r["cv_fold"]) for r in lda_rows if r["note"]]
    for key, rule in zip(("published", "calibrated", "decision"), rules, strict=False):
        headline[f"{key}_threshold_balanced_accuracy"] = rule["balanced_accuracy"]
    for key, value in effect.items():
        if key == "kruskal_p" or (key.startswith("mixed_") and key.endswith("_p")):
            headline[f"dice_group_effect_{key}"] = value
    return headline
