"""The cross-validation study: for every fold, train on its healthy subjects, score its test subjects, then report.

Each fold runs the bundle's own configs (train.json, then train.json + evaluate.json) through MONAI's
``ConfigWorkflow``, in this process or, with ``parallel > 1``, in worker processes. A fold whose scores already
exist is not run again, so an interrupted study continues where it stopped. The fold runs are tracked in one MLflow
store as children of a parent run that receives the report.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

BUNDLE_ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = "muscle_shape_inr_anomaly_study"
# Budgets of the demo study (about 2 minutes per fold on 2 CPU cores); the configs' own defaults train longer.
STUDY_OVERRIDES = {"epochs": 60, "val_interval": 60, "save_overlays": False}

logger = logging.getLogger(__name__)


def _workflow(configs: list[str], workflow_type: str, **overrides):
    from monai.bundle import ConfigWorkflow

    files = [str(BUNDLE_ROOT / "configs" / name) for name in configs]
    workflow = ConfigWorkflow(config_file=files, workflow_type=workflow_type, bundle_root=str(BUNDLE_ROOT), **overrides)
    workflow.initialize()
    try:
        workflow.run()
    finally:
        workflow.finalize()
        del workflow
        gc.collect()


def fold_paths(output_dir: Path, fold: int) -> dict[str, Path]:
    root = Path(output_dir) / f"fold{fold}"
    return {"root": root, "models": root / "models", "scores": root / f"evaluation_fold{fold}" / "scores.json"}


def run_fold(fold: int, dataset_dir: str, output_dir: str, tracking_uri: str, overrides: dict, threads: int = 0):
    """Train and evaluate one fold (skipped when its scores exist); returns the fold's paths as strings."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    paths = fold_paths(Path(output_dir), fold)
    if paths["scores"].is_file() and (paths["models"] / "model.pt").is_file():
        logger.info("fold %d already scored: %s", fold, paths["scores"])
        return {k: str(v) for k, v in paths.items()}
    common = {
        "dataset_dir": dataset_dir,
        "fold": fold,
        "ckpt_dir": str(paths["models"]),
        "output_dir": str(paths["root"]),
        "tracking_uri": tracking_uri,
        "experiment_name": EXPERIMENT,
        **{k: v for k, v in overrides.items() if k != "save_overlays"},
    }
    start = time.time()
    _workflow(["train.json"], "train", run_name=f"fold{fold}_train", **common)
    _workflow(
        ["train.json", "evaluate.json"],
        "train",
        run_name=f"fold{fold}_evaluate",
        save_overlays=overrides.get("save_overlays", False),
        **common,
    )
    logger.info("fold %d trained and scored in %.0f s", fold, time.time() - start)
    return {k: str(v) for k, v in paths.items()}


def run_folds(dataset_dir: str, output_dir: str, folds, tracking_uri: str, overrides: dict, parallel: int = 1):
    """Every requested fold, one after another or ``parallel`` at a time (threads shared out between them)."""
    if parallel <= 1:
        return [run_fold(f, dataset_dir, output_dir, tracking_uri, overrides) for f in folds]
    threads = max(1, (os.cpu_count() or 1) // parallel)
    with ProcessPoolExecutor(max_workers=parallel, mp_context=get_context("spawn")) as pool:
        jobs = [pool.submit(run_fold, f, dataset_dir, output_dir, tracking_uri, overrides, threads) for f in folds]
        return [job.result() for job in jobs]


def run_study(
    dataset_dir: str,
    output_dir: str,
    folds: list[int] | None = None,
    parallel: int = 1,
    overrides: dict | None = None,
) -> Path:
    """Run the folds, build the report and log it as the parent MLflow run; returns the report's HTML path."""
    from mlflow.tracking import MlflowClient

    from ..tracking import sqlite_tracking_uri
    from .report import build_report

    output = Path(output_dir).resolve()
    output.mkdir(parents=True, exist_ok=True)
    datalist_path = Path(dataset_dir) / "datalist.json"
    datalist = json.loads(datalist_path.read_text())
    folds = list(range(datalist["num_folds"])) if folds is None else [int(f) for f in folds]
    overrides = {**STUDY_OVERRIDES, **(overrides or {})}
    tracking_uri = sqlite_tracking_uri(output / "mlruns.db")
    fold_results = run_folds(str(Path(dataset_dir).resolve()), str(output), folds, tracking_uri, overrides, parallel)

    report_dir = output / "report"
    headline = build_report(fold_results, datalist, Path(dataset_dir).resolve(), report_dir)
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT) or client.get_experiment(
        client.create_experiment(EXPERIMENT, artifact_location=str(output / "mlruns"))
    )
    parent = client.create_run(experiment.experiment_id, run_name=f"study_{time.strftime('%Y%m%d_%H%M%S')}")
    for run in client.search_runs([experiment.experiment_id]):
        if run.info.run_name.split("_")[0] in {f"fold{f}" for f in folds} and run.info.run_id != parent.info.run_id:
            if "mlflow.parentRunId" not in run.data.tags:
                client.set_tag(run.info.run_id, "mlflow.parentRunId", parent.info.run_id)
    for key, value in {"folds": folds, "dataset_dir": dataset_dir, **overrides}.items():
        client.log_param(parent.info.run_id, key, str(value))
    for key, value in headline.items():
        if isinstance(value, (int, float)) and value == value:
            client.log_metric(parent.info.run_id, key, float(value))
    client.log_artifacts(parent.info.run_id, str(report_dir), "report")
    client.set_terminated(parent.info.run_id)
    logger.info("study report: %s", report_dir / "report.html")
    return report_dir / "report.html"
