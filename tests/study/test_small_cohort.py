"""The study finishes on the smallest cohort its folds allow: what cannot be computed is reported, with the reason."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import TINY_SPACING, TINY_TRAINING, cli_overrides, run_bundle_cli

from scripts.synthetic.cohort import generate_cohort

pytestmark = pytest.mark.xdist_group("test_small_cohort")


def test_the_study_of_the_smallest_cohort_writes_its_report(tmp_path):
    """Three folds of one healthy subject each (train, validate, test) and two sarcopenic subjects: folds test one
    group or fewer subjects than groups (no LDA), and two labelled cases beside two healthy subjects make no axis."""
    cohort = tmp_path / "cohort"
    generate_cohort(cohort, n_young=2, n_older=1, n_sarcopenic=2, spacing=TINY_SPACING, num_folds=3, progress=False)
    args = {k: v for k, v in TINY_TRAINING.items() if k not in ("val_interval", "checkpoint_interval")}
    args.update(epochs="2", fit_iterations="5", mlflow_tracking="false")
    result = run_bundle_cli(
        "scripts", "study", *cli_overrides(args, dataset_dir=str(cohort), output_dir=str(tmp_path / "study"))
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "no abnormal axis for fold" in result.stdout + result.stderr
    report = tmp_path / "study" / "report"
    lda = pd.read_csv(report / "lda.csv")
    assert len(lda) == 3 and lda["note"].str.startswith("not computable: ").all()
    headline = json.loads((report / "headline.json").read_text())
    assert headline["lda_folds_not_computable"] == [0, 1, 2] and "auc_combined" in headline
    page = (report / "report.html").read_text()
    assert "Fold 0: LDA not computable: one group only (Y)" in page
    for fold in range(3):  # nothing trained is lost: every fold's model and scores stay
        assert (tmp_path / "study" / f"fold{fold}" / "models" / "model.pt").is_file()
        assert (tmp_path / "study" / f"fold{fold}" / "fold.json").is_file()
