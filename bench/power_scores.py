"""The figures of ``detection_power.py``: per-subject tables of every score, baselines, ensembles, AUCs and tests.

Every score is compared on the same test subjects: AUC of abnormal against healthy with a bootstrap 95% interval,
and a paired DeLong test against the best voxel-PCA score (the best of its reconstruction error and coefficient
Mahalanobis distance over the variance kept, chosen on the test subjects themselves: the most favourable choice for
the baseline). An ensemble's score is the mean of its members' calibrated z-scores (each member is calibrated on the
validation subjects by its own healthy reference).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

PCA_VARIANCES = (0.90, 0.95, 0.99)
KNOWS_THE_ANOMALY = "flatness_score"


def member_table(scores_dir: Path) -> pd.DataFrame:
    """One member's scored subjects (``scores.json``) as a table with ``positive`` (1 = not healthy)."""
    from scripts.layout import scores_document

    document = json.loads(Path(scores_document(scores_dir)).read_text())
    table = pd.DataFrame(document["subjects"])
    table["positive"] = [0 if bool(h) else 1 for h in table["healthy"]]
    return table


def bundle_scores(table: pd.DataFrame) -> list[str]:
    """The calibrated scores of a member's table: every ``<name>_z`` column."""
    return [c for c in table.columns if c.endswith("_z")]


def ensemble(tables: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """Mean over members of each calibrated column, per subject (members aligned on ``id``); Dice averaged too."""
    first = tables[0][["id", "group", "positive"]]
    stacked = pd.concat([t.set_index("id")[columns + ["dice"]] for t in tables], keys=range(len(tables)))
    mean = stacked.clip(upper=50).groupby(level=1).mean()
    return first.merge(mean, left_on="id", right_index=True)


def baseline_table(dataset: Path, cache: Path) -> pd.DataFrame:
    """Volume, voxel-PCA (error and Mahalanobis at each of ``PCA_VARIANCES``) and flatness of the test subjects,
    the PCA fitted on the user's 48 healthy subjects (training and validation, as the bundle uses both)."""
    if cache.is_file():
        return pd.read_csv(cache)
    from scripts.data.datalist import load_split
    from scripts.layout import cohort_datalist
    from scripts.study.baselines import VoxelPCAShapeModel, aligned_mask

    datalist = Path(cohort_datalist(dataset))
    healthy = load_split(datalist, 0, "train") + load_split(datalist, 0, "val")
    test = load_split(datalist, 0, "test")
    reference = np.stack([aligned_mask(item["image"])[0] for item in healthy])
    measured = [aligned_mask(item["image"]) for item in test]
    masks = np.stack([m for m, _, _ in measured])
    table = pd.DataFrame(
        {
            "id": [item["id"] for item in test],
            "volume_score": [-v for _, v, _ in measured],
            KNOWS_THE_ANOMALY: [-f for _, _, f in measured],
        }
    )
    for variance in PCA_VARIANCES:
        model = VoxelPCAShapeModel(variance).fit(reference)
        scores = model.score(masks)
        suffix = f"{round(100 * variance)}"
        table[f"ssm_recon_{suffix}"] = scores["ssm_recon_score"]
        table[f"ssm_mahalanobis_{suffix}"] = scores["ssm_mahalanobis"]
    cache.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(cache, index=False)
    return table


def pca_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c.startswith("ssm_")]


def compare(table: pd.DataFrame, columns: list[str], n_boot: int = 2000) -> dict:
    """AUC with interval of every column and its paired DeLong test against the best voxel-PCA column."""
    from scripts.scoring.delong import delong_test
    from scripts.scoring.statistics import auc_with_ci

    labels = table["positive"].to_numpy()
    aucs = {c: auc_with_ci(labels, table[c].to_numpy(), n_boot=n_boot) for c in columns + pca_columns(table)}
    best_pca = max(pca_columns(table), key=lambda c: aucs[c]["auc"])
    rows = {}
    for column, auc in aucs.items():
        test = delong_test(labels, table[column].to_numpy(), table[best_pca].to_numpy())
        rows[column] = {**auc, "vs_best_pca": test["difference"], "delong_p": test["p_value"]}
    return {"best_pca": best_pca, "scores": rows}


def dice_by_status(table: pd.DataFrame) -> dict:
    return {
        "dice_healthy": float(table.loc[table["positive"] == 0, "dice"].mean()),
        "dice_abnormal": float(table.loc[table["positive"] == 1, "dice"].mean()),
    }
