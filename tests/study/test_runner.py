"""The cross-validation study end to end on the tiny cohort: folds, baselines, statistics, report, MLflow."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import torch
from conftest import TINY_TRAINING, cli_overrides, load_datalist, run_bundle_cli
from mlflow.tracking import MlflowClient

from scripts.study.baselines import VoxelPCAShapeModel, aligned_mask


def test_study_runs_every_fold_and_writes_a_report(tiny_cohort, tmp_path):
    args = {k: v for k, v in TINY_TRAINING.items() if k not in ("val_interval", "checkpoint_interval")}
    args.update(epochs="6", dataset_dir=str(tiny_cohort), output_dir=str(tmp_path))
    args["network_def#hidden_dim"] = "64"  # a nested config id: applied to every fold, tracked under an MLflow name
    result = run_bundle_cli("scripts", "study", *cli_overrides(args))
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
    assert aucs["auc"].between(0, 1).all()
    headline = json.loads((report / "headline.json").read_text())
    assert {"mean_dice_Y", "mean_dice_OS", "auc_combined", "auc_volume_score", "lda_p_value_max"} <= set(headline)

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


def test_voxel_pca_shape_model_scores_unseen_shapes_worse(tiny_cohort):
    datalist = load_datalist(tiny_cohort)
    masks = {s["id"]: aligned_mask(str(tiny_cohort / s["image"]))[0] for s in datalist["subjects"]}
    healthy = [i for i in masks if not i.startswith("OS")]
    import numpy as np

    model = VoxelPCAShapeModel(variance=0.99).fit(np.stack([masks[i] for i in healthy]))
    seen = model.score(np.stack([masks[i] for i in healthy]))["ssm_recon_score"]
    unseen = model.score(np.stack([masks[i] for i in masks if i.startswith("OS")]))["ssm_recon_score"]
    assert seen.max() < 0.05 < unseen.mean()
