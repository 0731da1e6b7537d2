"""The cross-validation study end to end on the tiny cohort: folds, baselines, statistics, report, MLflow."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY_TRAINING, cli_overrides, load_datalist, run_bundle_cli
from mlflow.tracking import MlflowClient
from sklearn.metrics import roc_auc_score

from scripts.scoring.delong import delong_test
from scripts.study.baselines import VoxelPCAShapeModel, aligned_mask, score_fold
from scripts.study.folds import axis_fold

# one xdist worker runs this module: its `study` fixture is built once per worker session (not per module, which
# another module's test run in between would tear down) and shared by its tests
pytestmark = pytest.mark.xdist_group("test_runner")

STUDY_ARGS = {k: v for k, v in TINY_TRAINING.items() if k not in ("val_interval", "checkpoint_interval")}
STUDY_ARGS.update({"epochs": "6", "network_def#hidden_dim": "64"})  # a nested id: applied to every fold, tracked


@pytest.fixture(scope="session")
def study(tiny_cohort, tmp_path_factory):
    """The study of the tiny cohort, run once through the CLI: its folder and the command's result."""
    out = tmp_path_factory.mktemp("study")
    result = run_bundle_cli(
        "scripts", "study", *cli_overrides(STUDY_ARGS, dataset_dir=str(tiny_cohort), output_dir=str(out))
    )
    return out, result


def test_study_runs_every_fold_and_writes_a_report(tiny_cohort, study):
    tmp_path, result = study
    args = {**STUDY_ARGS, "dataset_dir": str(tiny_cohort), "output_dir": str(tmp_path)}
    assert result.returncode == 0, result.stderr[-3000:]
    report = tmp_path / "report"
    assert str(report / "report.html") in result.stdout
    for name in (
        "per_subject_scores.csv",
        "metrics_by_group_and_fold.csv",
        "auc.csv",
        "thresholds.csv",
        "lda.csv",
        "roc.png",
        "box_dice.png",
        "lda_fold0.png",
        "headline.json",
        "group_effect_dice.json",
    ):
        assert (report / name).stat().st_size > 0, name
    page = (report / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 8 and "Mean reconstruction Dice per group" in page
    # shapes in 3D: subjects of each group and the learned abnormal direction, Plotly embedded once
    assert page.count("plotly.js v") == 1 and page.count("id='view3d-") >= 4
    assert (report / "learned_shapes.png").stat().st_size > 1000  # tiny models decode little: meshes may be absent

    datalist = load_datalist(tiny_cohort)
    scores = pd.read_csv(report / "per_subject_scores.csv")
    expected = sum(len(split["test"]) for split in datalist["folds"])
    assert len(scores) == expected and set(scores["cv_fold"]) == {0, 1, 2}
    assert {"ssm_recon_score", "ssm_mahalanobis", "volume_score", "recon_score", "combined"} <= set(scores.columns)
    aucs = pd.read_csv(report / "auc.csv")
    assert set(aucs["kind"]) == {"shape model", "baseline", "reference (knows the anomaly)"}
    # pooled figures count every subject once, scored by one fold's model: a sarcopenic one by its axis fold
    pooled = scores[scores["pooled"]]
    assert pooled["id"].is_unique and set(pooled["id"]) == set(scores["id"])
    for row in pooled[pooled["positive"] == 1].itertuples():
        assert row.cv_fold == axis_fold(row.id, 3)
    for row in aucs.itertuples():
        column = f"{row.column}_z" if f"{row.column}_z" in pooled else row.column
        values = pooled[column].astype(float).replace(np.inf, np.finfo(float).max)  # nothing restored: furthest
        known = values.notna()
        if pooled.loc[known, "positive"].nunique() < 2:  # a score no tiny fold can compute: said, not invented
            assert np.isnan(row.auc) and row.note.startswith("not computable"), row.column
            continue
        assert row.auc == pytest.approx(roc_auc_score(pooled.loc[known, "positive"], values[known])), row.column
    headline = json.loads((report / "headline.json").read_text())
    assert {"mean_dice_Y", "mean_dice_OS", "auc_combined", "auc_volume_score", "lda_p_value_max"} <= set(headline)
    # the report says which score decides, beside the best baseline with the paired test on the same subjects
    assert headline["decision_score"] == "combined" and headline["auc_decision"] == headline["auc_combined"]
    best = aucs[aucs["kind"] == "baseline"].sort_values("auc").iloc[-1]
    assert headline["best_baseline"] == best["score"]
    paired = delong_test(pooled["positive"], pooled["combined_z"], pooled[best["column"]])
    assert headline["delong_p"] == pytest.approx(paired["p_value"])
    assert f"paired DeLong p = {headline['delong_p']:.3g}" in page

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlruns.db'}")
    experiment = client.get_experiment_by_name("muscle_shape_inr_anomaly_study")
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if r.info.run_name.startswith("study_"))
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert {r.info.run_name for r in children} == {
        f"fold{k}_{kind}" for k in range(3) for kind in ("train", "evaluate")
    }
    assert "auc_combined" in parent.data.metrics and parent.data.params["network_def.hidden_dim"] == "64"
    model = torch.load(tmp_path / "fold0" / "models" / "model.pt", weights_only=True)
    assert json.loads(model["settings"]["values"])["hidden_dim"] == 64  # the checkpoint says what the network is
    assert any(a.path == "report" for a in client.list_artifacts(parent.info.run_id))

    again = run_bundle_cli("scripts", "study", *cli_overrides(args), "--no_report")  # every fold is scored already
    assert again.returncode == 0 and "fold 2 already scored" in again.stdout + again.stderr
    assert "trained and scored" not in again.stdout + again.stderr

    shutil.rmtree(report)  # the report alone, rebuilt from the folds already scored, without training
    rebuilt = run_bundle_cli("scripts", "report", "--dataset_dir", str(tiny_cohort), "--output_dir", str(tmp_path))
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert json.loads((report / "headline.json").read_text())["auc_combined"] == headline["auc_combined"]
    assert "trained and scored" not in rebuilt.stdout + rebuilt.stderr


def test_a_study_without_mlflow_tracking_writes_its_report_and_no_store(tiny_cohort, study, tmp_path, monkeypatch):
    """``--mlflow_tracking false`` reaches the study's own report run too: the report is written, no store is
    created, MLflow need not be importable; a tracking server given with it is refused in one line before anything
    is written."""
    from scripts.errors import InputError
    from scripts.study.runner import build_study_report, run_study

    for module in ("mlflow", "mlflow.tracking"):  # as on a machine without MLflow
        monkeypatch.setitem(sys.modules, module, None)
    first, _ = study
    copy = tmp_path / "copy"
    shutil.copytree(first, copy, ignore=shutil.ignore_patterns("mlruns*", "report"))
    report = build_study_report(str(tiny_cohort), str(copy), settings={"mlflow_tracking": "false"})
    assert report == copy / "report" / "report.html" and report.is_file()
    assert not any("mlruns" in p.name for p in copy.iterdir())
    with pytest.raises(InputError, match="contradicts --mlflow_tracking false"):
        run_study(
            str(tiny_cohort), str(tmp_path / "never"), overrides={"mlflow_tracking": False}, tracking_uri="http://x"
        )
    assert not (tmp_path / "never").exists()


def test_voxel_pca_shape_model_scores_unseen_shapes_worse(tiny_cohort):
    datalist = load_datalist(tiny_cohort)
    masks = {s["id"]: aligned_mask(str(tiny_cohort / s["image"]))[0] for s in datalist["subjects"]}
    healthy = [i for i in masks if not i.startswith("OS")]
    import numpy as np

    model = VoxelPCAShapeModel(variance=0.99).fit(np.stack([masks[i] for i in healthy]))
    seen = model.score(np.stack([masks[i] for i in healthy]))["ssm_recon_score"]
    unseen = model.score(np.stack([masks[i] for i in masks if i.startswith("OS")]))["ssm_recon_score"]
    assert seen.max() < 0.05 < unseen.mean()


def test_baselines_read_each_labelmap_once_across_folds_and_score_as_when_read_per_fold(tiny_cohort, monkeypatch):
    """The report scores every fold's baselines; a subject is in several folds, so its aligned mask is read once
    and shared: the same rows as reading each fold's files afresh."""
    from scripts.data.datalist import load_split
    from scripts.study import baselines

    datalist = tiny_cohort / "datalist.json"
    folds = [(load_split(datalist, f, "train"), load_split(datalist, f, "test")) for f in range(2)]
    fresh = [score_fold(train, test) for train, test in folds]
    reads = []
    monkeypatch.setattr(
        baselines, "aligned_mask", lambda path, label=1: reads.append(path) or aligned_mask(path, label)
    )
    shared: dict = {}
    assert [score_fold(train, test, 1, shared) for train, test in folds] == fresh
    assert sorted(reads) == sorted(set(reads)) == sorted(shared)
    assert len(reads) < sum(len(train) + len(test) for train, test in folds)


def test_a_subjects_own_label_never_changes_its_own_axis_score(tiny_cohort, study, tmp_path):
    """Each fold's abnormal axis learns from the labels of the abnormal subjects of the other folds: flipping one
    subject's label and re-running the fold that scores it with the axis leaves its axis score exactly as it was."""
    first, _ = study
    datalist = load_datalist(tiny_cohort)
    subject = next(s for s in datalist["subjects"] if not s["healthy"])
    own = axis_fold(subject["id"], len(datalist["folds"]))
    labelled = json.loads((first / "labelled_datalist.json").read_text())
    assert subject["id"] not in labelled["folds"][own]["train"]  # its own fold never saw its label
    assert all(subject["id"] in split["train"] for k, split in enumerate(labelled["folds"]) if k != own)
    original = pd.read_csv(first / "report" / "per_subject_scores.csv")
    rows = original[(original["id"] == subject["id"]) & original["axis_score"].notna()]
    assert list(rows["cv_fold"]) == [own]  # only the fold whose axis it did not label scores it on the axis

    flipped = tmp_path / "flipped"
    shutil.copytree(tiny_cohort, flipped)
    datalist["subjects"] = [dict(s, healthy=True) if s["id"] == subject["id"] else s for s in datalist["subjects"]]
    (flipped / "datalist.json").write_text(json.dumps(datalist))
    args = {**STUDY_ARGS, "dataset_dir": str(flipped), "output_dir": str(tmp_path / "study"), "folds": f"[{own}]"}
    rerun = run_bundle_cli("scripts", "study", *cli_overrides(args), "--no_report")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    again = json.loads((tmp_path / "study" / f"fold{own}" / f"evaluation_fold{own}" / "scores.json").read_text())
    score = next(r["axis_score"] for r in again["subjects"] if r["id"] == subject["id"])
    assert score == pytest.approx(float(rows["axis_score"].iloc[0]), abs=1e-9)
