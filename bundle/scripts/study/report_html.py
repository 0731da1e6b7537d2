"""The study report as one self-contained HTML page: every figure embedded, every table, one sentence each."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from ..data.files import atomic_path
from ..layout import summary_page


def _image(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(path.name)}"><figcaption>'
        f"{html.escape(caption)}</figcaption></figure>"
    )


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0, classes="table")


def _verdict(headline: dict) -> str:
    """Which decides, and whether it beats the best baseline on the same subjects (paired DeLong test)."""
    if "auc_decision" not in headline:
        decision, baseline = headline["decision_score"], headline["best_baseline"]
        return f"The decision score ({decision}) was not scored; the best baseline is {baseline}."
    low, high = headline["auc_decision_ci"]
    decides = (
        f"The decision score, {headline['decision_score_label']}, reaches AUC {headline['auc_decision']:.3f} "
        f"[{low:.3f}, {high:.3f}]; the best baseline, {headline['best_baseline']}, {headline['auc_best_baseline']:.3f}"
    )
    difference, p = headline["decision_minus_baseline"], headline["delong_p"]
    if p >= 0.05:
        outcome = "no difference the test can resolve"
    else:
        outcome = "the decision score is better" if difference > 0 else "the baseline is better"
    return f"{decides} (difference {difference:+.3f}, paired DeLong p = {p:.3g}: {outcome})."


def _headline_sentence(headline: dict, aucs: pd.DataFrame, order: list[str]) -> str:
    dice = ", ".join(f"{g} {headline[f'mean_dice_{g}']:.3f}" for g in order if f"mean_dice_{g}" in headline)
    shape = aucs[aucs["kind"] == "shape model"].sort_values("auc").iloc[-1]
    lda = f"Largest LDA permutation p-value over folds: {headline['lda_p_value_max']:.3g}."
    if headline.get("lda_folds_not_computable"):
        lda += f" LDA not computable on fold(s) {headline['lda_folds_not_computable']} (see Latent space)."
    return (
        f"Mean reconstruction Dice per group: {dice}. {_verdict(headline)} Best shape-model score: {shape.score}, AUC "
        f"{shape.auc:.3f}. {lda}"
    )


def write_html(out: Path, headline, aucs, thresholds, effect, lda_rows, summary, order, shapes: str = "") -> Path:
    """The page; ``shapes`` is the HTML of the 3D views (subjects and learned shapes), Plotly embedded once."""
    figures = out
    sections = [
        "<h1>Cross-validation study: implicit shape model vs sarcopenia</h1>",
        f"<p><b>{html.escape(_headline_sentence(headline, aucs, order))}</b></p>",
        "<h2>Reconstruction quality per group</h2>",
        _image(
            figures / "box_dice.png",
            "Dice of the reconstruction per subject (each subject once, scored by one fold's model: a sarcopenic "
            "subject by the fold whose abnormal axis never saw its label); the dashed line is the published threshold.",
        ),
        _image(figures / "box_hd95_mm.png", "95th percentile Hausdorff distance (mm) per subject."),
        _image(figures / "box_asd_mm.png", "Average symmetric surface distance (mm) per subject."),
        _image(figures / "box_volume_error_pct.png", "Volume error of the reconstruction (%) per subject."),
        "<p>Mean and standard deviation of every metric per group and fold.</p>",
        _table(summary),
        "<h2>Group effect on Dice</h2>",
        "<p>Linear mixed model (group and fold as fixed effects, random intercept per subject, because sarcopenic "
        "subjects are tested in every fold) and Kruskal-Wallis on per-subject means.</p>",
        _table(pd.DataFrame([effect])),
        "<h2>Detection: ROC and AUC</h2>",
        _image(figures / "roc.png", "ROC curves of every anomaly score and baseline, abnormal vs healthy."),
        "<p>AUC pooled over subjects with a 95% bootstrap interval, and its mean and spread over folds.</p>",
        _table(aucs.drop(columns=["column"])),
        "<h2>Thresholds</h2>",
        "<p>The published Dice threshold next to thresholds calibrated on healthy validation subjects only.</p>",
        _table(pd.DataFrame(thresholds)),
        "<h2>Latent space</h2>",
        "<p>Shrinkage LDA of each fold's training and test codes by group; the p-value comes from refitting on "
        "permuted labels.</p>",
        _table(pd.DataFrame(lda_rows)),
        *[
            _image(figures / f"lda_fold{r['cv_fold']}.png", f"Fold {r['cv_fold']}: codes on the discriminant axes.")
            if not r.get("note")
            else f"<p>Fold {r['cv_fold']}: LDA {html.escape(r['note'])}.</p>"
            for r in lda_rows
        ],
        *(
            [
                "<h2>Shapes in 3D</h2>",
                "<p>A few subjects per group of the first fold, coloured by their signed distance to their "
                "reconstructed normal shape (red: tissue missing, blue: extra tissue; the grey envelope is the normal "
                "shape), then what the model has learned abnormal to mean. Choose a view; drag to turn, scroll to "
                "zoom.</p>",
                shapes,
                _image(
                    figures / "learned_shapes.png",
                    "Sections through the shapes decoded along the direction from "
                    "healthy to abnormal codes; the green outline is the healthy mean shape.",
                )
                if (figures / "learned_shapes.png").is_file()
                else "",
            ]
            if shapes
            else []
        ),
        "<p>Tables as CSV beside this page: per_subject_scores.csv, metrics_by_group_and_fold.csv, auc.csv, "
        "thresholds.csv, lda.csv; headline figures in headline.json.</p>",
    ]
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}img{max-width:100%}figure{margin:0}"
        "table{border-collapse:collapse;font-size:0.85em}td,th{padding:2px 8px;border-bottom:1px solid #ddd}"
    )
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Study report</title><style>{style}</style>"
        f"</head><body>{''.join(sections)}</body></html>"
    )
    path = Path(summary_page(out))
    with atomic_path(path) as tmp:
        tmp.write_text(page)
    return path
