"""The cross-validation study: for every fold, train on its healthy subjects, score its test subjects, then report.

Each fold runs the bundle's own configs (``train.json``, then ``inference.json`` + ``evaluate.json``) through MONAI's
``ConfigWorkflow``, in this process or, with ``parallel > 1``, in worker processes; training reads the cohort's folds
with their labelled abnormal cases (``folds``), from which it learns the abnormal axis. A fold whose scores already
exist (made with the same settings and cohort: ``fold_records``) is not run again, so an interrupted study continues
where it stopped, and folds can run as separate jobs (on other machines) into one shared study folder: ``study --folds
[3] --no_report`` per job, then ``report``, which refuses folds made differently. The runs are tracked in one MLflow
store (an ``mlflow server`` when several machines share the study) as children of a parent run that receives the
report.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from ..data.datalist import DatalistError, read_datalist
from ..errors import InputError
from ..layout import StudyLayout, cohort_datalist
from .fold_records import check_one_study, fold_differences, fold_record, write_fold_record
from .folds import write_labelled_datalist
from .workflows import config_ids_of, run_workflow

EXPERIMENT = "muscle_shape_inr_anomaly_study"
# Budgets of the demo study (about 2 minutes per fold on 2 CPU cores); the configs' own defaults train longer.
STUDY_OVERRIDES = {"epochs": 60, "val_interval": 60, "save_overlays": False}

logger = logging.getLogger(__name__)


def fold_overrides(layout: StudyLayout, fold: int, dataset_dir: str, tracking_uri: str) -> dict:
    """The config ids that put a fold's workflows in the study's folders and tracking store."""
    return {
        "dataset_dir": dataset_dir,
        "fold": fold,
        "ckpt_dir": str(layout.models_dir(fold)),
        "output_dir": str(layout.fold_dir(fold)),
        "tracking_uri": tracking_uri,
        "experiment_name": EXPERIMENT,
    }


def run_fold(fold: int, dataset_dir: str, study_dir: str, tracking_uri: str, overrides: dict, threads: int = 0):
    """Train and score one fold, unless it was scored already with the same settings and cohort (``fold_records``)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    layout = StudyLayout(study_dir)
    record = fold_record(layout.labelled_datalist(), overrides)
    found = fold_differences(layout, fold, record)
    if not found:
        logger.info("fold %d already scored with these settings: %s", fold, layout.scores(fold))
        return
    if found != ["not scored"]:
        logger.warning("fold %d is run again: its scores were made otherwise (%s)", fold, "; ".join(found[:3]))
    common = fold_overrides(layout, fold, dataset_dir, tracking_uri)
    scoring_ids = config_ids_of(["inference.json", "evaluate.json"])
    start = time.time()
    labelled = str(layout.labelled_datalist())  # the cohort's folds with their labelled abnormal cases
    run_workflow(["train.json"], "train", run_name=f"fold{fold}_train", datalist=labelled, **common, **overrides)
    scoring = {k: v for k, v in overrides.items() if k in scoring_ids}  # training-only ids stay with training
    run_workflow(["inference.json", "evaluate.json"], "infer", run_name=f"fold{fold}_evaluate", **common, **scoring)
    write_fold_record(layout, fold, record)
    logger.info("fold %d trained and scored in %.0f s", fold, time.time() - start)


def run_folds(dataset_dir: str, study_dir: str, folds, tracking_uri: str, overrides: dict, parallel: int = 1) -> None:
    """Every requested fold, one after another or ``parallel`` at a time (threads shared out between them)."""
    if parallel <= 1:
        for fold in folds:
            run_fold(fold, dataset_dir, study_dir, tracking_uri, overrides)
        return
    threads = max(1, (os.cpu_count() or 1) // parallel)
    with ProcessPoolExecutor(max_workers=parallel, mp_context=get_context("spawn")) as pool:
        jobs = [pool.submit(run_fold, f, dataset_dir, study_dir, tracking_uri, overrides, threads) for f in folds]
        for job in jobs:
            job.result()


def study_tracking_uri(study_dir: Path, tracking_uri: str | None) -> str:
    """The given MLflow server, or the embedded store of the study folder (created once, safely)."""
    from ..tracking import sqlite_tracking_uri

    return tracking_uri or sqlite_tracking_uri(StudyLayout(study_dir).tracking_db())


def _check_folds(datalist_path: Path, folds: list[int] | None) -> tuple[dict, list[int]]:
    datalist = read_datalist(datalist_path)
    available = list(range(len(datalist["folds"])))
    folds = available if folds is None else [int(f) for f in folds]
    wrong = [f for f in folds if f not in available]
    if wrong:
        raise DatalistError(f"{datalist_path}: fold(s) {wrong} do not exist (folds 0..{available[-1]})")
    return datalist, folds


def run_study(
    dataset_dir: str,
    output_dir: str,
    folds: list[int] | None = None,
    parallel: int = 1,
    overrides: dict | None = None,
    tracking_uri: str | None = None,
    report: bool = True,
) -> Path:
    """Run the folds, then (with ``report``) build the report; returns the report's HTML path (or the study folder)."""
    dataset = Path(dataset_dir).resolve()
    study = Path(output_dir).resolve()
    _, folds = _check_folds(Path(cohort_datalist(dataset)), folds)
    settings = {**STUDY_OVERRIDES, **(overrides or {})}
    tracked = _tracked(settings)
    if tracking_uri and not tracked:
        raise InputError(f"--tracking_uri {tracking_uri} contradicts --mlflow_tracking false: give one or the other")
    study.mkdir(parents=True, exist_ok=True)
    write_labelled_datalist(dataset, StudyLayout(study).labelled_datalist())
    uri = study_tracking_uri(study, tracking_uri) if tracked else ""
    run_folds(str(dataset), str(study), folds, uri, settings, parallel)
    if not report:
        logger.info("folds %s scored in %s; assemble the report with: python -m scripts report", folds, study)
        return study
    return build_study_report(str(dataset), str(study), tracking_uri=uri, settings=settings)


def _tracked(settings: dict) -> bool:
    """Whether the study's runs are tracked in MLflow (``--mlflow_tracking``, on unless given false)."""
    from ..settings import coerce

    return coerce("mlflow_tracking", settings.get("mlflow_tracking", True)) is not False


def build_study_report(
    dataset_dir: str, output_dir: str, tracking_uri: str | None = None, settings: dict | None = None
) -> Path:
    """The report of the folds scored so far, logged as the parent MLflow run of the folds' runs (unless
    ``settings`` turn ``mlflow_tracking`` off), without training."""
    from .report import build_report

    dataset, study = Path(dataset_dir).resolve(), Path(output_dir).resolve()
    datalist, all_folds = _check_folds(Path(cohort_datalist(dataset)), None)
    layout = StudyLayout(study)
    folds = [f for f in all_folds if layout.scored(f)]
    if not folds:
        raise DatalistError(f"{study}: no fold of {cohort_datalist(dataset)} has been scored yet; run the study first")
    check_one_study(layout, folds)
    missing = sorted(set(all_folds) - set(folds))
    if missing:
        logger.warning("the report covers folds %s only: folds %s are not scored yet", folds, missing)
    headline = build_report(layout, folds, datalist, dataset, layout.report_dir())
    if not _tracked(settings or {}):
        logger.info("study report: %s (not tracked: --mlflow_tracking false)", layout.report())
        return layout.report()
    from mlflow.tracking import MlflowClient

    from ..tracking import mlflow_params

    uri = study_tracking_uri(study, tracking_uri)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(EXPERIMENT) or client.get_experiment(
        client.create_experiment(EXPERIMENT, artifact_location=str(study / "mlruns"))
    )
    parent = client.create_run(experiment.experiment_id, run_name=f"study_{time.strftime('%Y%m%d_%H%M%S')}")
    names = {f"fold{f}_{kind}" for f in folds for kind in ("train", "evaluate")}
    for run in client.search_runs([experiment.experiment_id]):
        if run.info.run_name in names and "mlflow.parentRunId" not in run.data.tags:
            client.set_tag(run.info.run_id, "mlflow.parentRunId", parent.info.run_id)
    params = {"folds": folds, "missing_folds": missing, "dataset_dir": str(dataset), **(settings or {})}
    for key, value in mlflow_params(params).items():
        client.log_param(parent.info.run_id, key, value)
    for key, value in headline.items():
        if isinstance(value, (int, float)) and value == value:
            client.log_metric(parent.info.run_id, key, float(value))
    client.log_artifacts(parent.info.run_id, str(layout.report_dir()), "report")
    client.set_terminated(parent.info.run_id)
    logger.info("study report: %s", layout.report())
    return layout.report()
