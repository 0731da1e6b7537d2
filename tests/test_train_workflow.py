"""train.json through ``python -m monai.bundle run``: checkpoints, the model file, MLflow tracking, resuming."""

from __future__ import annotations

import json

import torch
from conftest import load_datalist, train_tiny
from mlflow.tracking import MlflowClient


def test_training_writes_a_complete_model(tiny_model, tiny_cohort):
    models = tiny_model / "models"
    assert {"model.pt", "model_final.pt", "checkpoint_epoch=4.pt"} <= {p.name for p in models.iterdir()}
    state = torch.load(models / "model.pt", weights_only=True)
    assert set(state) == {"settings", "network_def", "latent_table", "reference", "run"}  # run: what trained it
    settings = json.loads(state["settings"]["values"])
    assert settings["target_spacing"] == [2.5, 2.5, 2.5] and settings["fit_iterations"] == 10
    assert json.loads(state["settings"]["versions"])["monai"]
    train_ids = load_datalist(tiny_cohort)["folds"][0]["train"]
    assert state["latent_table"]["_extra_state"]["case_ids"] == train_ids
    assert state["latent_table"]["codes.weight"].shape == (len(train_ids), 128)
    reference = state["reference"]
    val_ids = load_datalist(tiny_cohort)["folds"][0]["val"]
    assert reference["latent_mean"].shape == (128,) and len(reference["healthy"]["recon_score"]) == len(val_ids)
    assert reference["map_mean"].shape == reference["map_scale"].shape and reference["members"]
    final = torch.load(models / "model_final.pt", weights_only=True)
    assert final["trainer"]["iteration"] == 4 * ((len(train_ids) + 1) // 2)
    assert {"optimizer", "lr_scheduler"} <= set(final)
    assert (tiny_model / "eval" / "training_curves.png").stat().st_size > 1000


def test_training_is_tracked_in_the_embedded_mlflow_store(tiny_model):
    client = MlflowClient(tracking_uri=f"sqlite:///{tiny_model / 'eval' / 'mlruns.db'}")
    experiment = client.get_experiment_by_name("muscle_shape_inr_anomaly")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1  # trainer and validator log into one run
    run = runs[0]
    assert run.data.params["epochs"] == "4" and run.data.params["lr_codes"] == "0.01"
    assert {"train_loss", "train_bce", "train_dice_loss", "train_code_reg", "train_point_dice", "val_mean_dice"} <= set(
        run.data.metrics
    )
    history = client.get_metric_history(run.info.run_id, "train_bce")
    assert [m.step for m in history] == [1, 2, 3, 4]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"model.pt", "training_curves.png", "train.json", "metadata.json"} <= artifacts


def test_training_resumes_from_its_last_checkpoint(tiny_cohort, tmp_path):
    first = train_tiny(tiny_cohort, tmp_path, epochs="2", val_interval="2")
    assert first.returncode == 0, first.stderr[-3000:]
    again = train_tiny(tiny_cohort, tmp_path, epochs="3", val_interval="3")
    assert again.returncode == 0, again.stderr[-3000:]
    log = again.stdout + again.stderr
    assert "resuming training from" in log and "Epoch[3] Complete" in log and "Epoch[1] Complete" not in log
    final = torch.load(tmp_path / "models" / "model_final.pt", weights_only=True)
    assert final["trainer"]["max_epochs"] == 3
    assert json.loads(json.dumps(final["trainer"]["iteration"])) == final["trainer"]["epoch_length"] * 3


def test_resuming_with_other_settings_starts_afresh_or_is_refused_in_one_line(tiny_cohort, tmp_path):
    first = train_tiny(tiny_cohort, tmp_path, epochs="1", val_interval="1")
    assert first.returncode == 0, first.stderr[-3000:]
    strict = train_tiny(tiny_cohort, tmp_path, epochs="2", val_interval="2", coordinate_scale="0.03", resume="strict")
    assert strict.returncode == 1 and "Traceback" not in strict.stderr
    line = [x for x in strict.stderr.splitlines() if x.startswith("error: ")][-1]
    assert "made by another training run" in line and "coordinate_scale 0.02 -> 0.03" in line, line
    again = train_tiny(tiny_cohort, tmp_path, epochs="2", val_interval="2", coordinate_scale="0.03")
    assert again.returncode == 0, again.stderr[-3000:]
    log = again.stdout + again.stderr
    assert "coordinate_scale 0.02 -> 0.03" in log and "starting afresh" in log and "Epoch[1] Complete" in log
