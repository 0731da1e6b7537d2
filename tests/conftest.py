"""Shared fixtures: tiny synthetic cohorts generated once per test session (never committed)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from bundle_processes import run_module

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLE_ROOT = REPO_ROOT / "bundle"
CONFIGS = BUNDLE_ROOT / "configs"
TINY_SPACING = (2.5, 2.5, 2.5)


def pytest_configure(config) -> None:
    """Share the cores between xdist workers: each worker's commands get their share of threads, not all of them."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // workers)))


def bundle_config(*files: str, **overrides):
    """The bundle's configs (``train.json``, ...) merged and parsed as a workflow parses them, with ``overrides``.

    Tests take every chain from here, never from a copy of their own (``scripts.study.workflows.parse_configs``).
    """
    from scripts.study.workflows import parse_configs

    return parse_configs(list(files), **overrides)


def parsing_error(parser, parsed_id: str):
    """The input error (``scripts.errors.InputError``) that parsing ``parsed_id`` meets, however deep the config
    wraps it: what the CLI would print as its one line."""
    from scripts.errors import find_input_error

    with pytest.raises(Exception) as raised:
        parser.get_parsed_content(parsed_id)
    found = find_input_error(raised.value)
    assert found is not None, raised.value
    return found


def scoring_chain(**settings):
    """``scoring_preprocessing`` of train.json (what validation, evaluation and inference run) for ``settings``."""
    return bundle_config("train.json", **settings).get_parsed_content("scoring_preprocessing")


@pytest.fixture(scope="session")
def bundle_root() -> Path:
    return BUNDLE_ROOT


def built_once(tmp_path_factory, name: str, build) -> Path:
    """The folder ``name`` that ``build(folder)`` fills, built by the first test process that asks for it.

    With ``pytest -n`` (xdist) every worker is a session of its own; the expensive session fixtures (cohorts, the
    tiny model) are built once, under a file lock in the temporary folder all workers share, and read by all. A
    build that fails leaves no marker, so the next worker that asks builds it again and fails the same way.
    """
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, above each worker's own
    folder, marker = root / name, root / f"{name}.built"
    with FileLock(root / f"{name}.lock"):
        if not marker.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            marker.touch()
    return folder


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory) -> Path:
    """12 subjects (4 per group) at 2.5 mm, 3 folds: small enough for every pipeline and engine test."""
    from scripts.synthetic.cohort import generate_cohort

    def build(out: Path) -> None:
        generate_cohort(out, n_young=4, n_older=4, n_sarcopenic=4, spacing=TINY_SPACING, num_folds=3, progress=False)

    return built_once(tmp_path_factory, "tiny_cohort", build)


@pytest.fixture(scope="session")
def demo_cohort(tmp_path_factory) -> Path:
    """The default demo cohort (default seed, counts and 1 mm spacing), as the quick start generates it."""
    from scripts.synthetic.cohort import generate_cohort

    return built_once(tmp_path_factory, "demo_cohort", lambda out: generate_cohort(out, progress=False))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def load_datalist(cohort: Path) -> dict:
    return json.loads((cohort / "datalist.json").read_text())


def run_bundle_cli(*args: str, cwd: Path = BUNDLE_ROOT, env: dict | None = None, timeout: float = 600):
    """Run ``python -m <args>`` in a process of its own as a user would, returning the CompletedProcess.

    The process is forked from one that has imported the heavy packages already (``bundle_processes``).
    """
    full_env = {**os.environ, "PYTHONPATH": str(BUNDLE_ROOT), "MLFLOW_DISABLE_TELEMETRY": "true", **(env or {})}
    return run_module(args[0], list(args[1:]), cwd=cwd, env=full_env, timeout=timeout)


# Overrides that make a training run take seconds on the tiny cohort (the tests' budgets, not the bundle's).
TINY_TRAINING = {
    "epochs": "4",
    "val_interval": "2",
    "checkpoint_interval": "1",
    "subjects_per_batch": "2",
    "points_per_subject": "512",
    "fit_points": "2048",
    "fit_points_per_iteration": "256",
    "fit_iterations": "10",
    "fit_batch_size": "4",
    "target_spacing": "[2.5,2.5,2.5]",
    "coarse_mm": "5.0",
}


def cli_overrides(values: dict, **more) -> list[str]:
    return [item for key, value in {**values, **more}.items() for item in (f"--{key}", str(value))]


def train_tiny(cohort: Path, run_dir: Path, **extra) -> subprocess.CompletedProcess:
    """``python -m monai.bundle run`` of train.json on the tiny cohort, outputs under ``run_dir``."""
    overrides = {
        **TINY_TRAINING,
        "dataset_dir": str(cohort),
        "ckpt_dir": str(run_dir / "models"),
        "output_dir": str(run_dir / "eval"),
        **extra,
    }
    return run_bundle_cli("monai.bundle", "run", "--config_file", "configs/train.json", *cli_overrides(overrides))


@pytest.fixture(scope="session")
def tiny_model(tiny_cohort, tmp_path_factory) -> Path:
    """A model trained on the tiny cohort (fold 0) through the bundle's CLI; returns its run folder."""

    def build(run_dir: Path) -> None:
        result = train_tiny(tiny_cohort, run_dir)
        (run_dir / "train.log").write_text(result.stdout + result.stderr)
        assert result.returncode == 0, result.stderr[-3000:]

    return built_once(tmp_path_factory, "tiny_run", build)
