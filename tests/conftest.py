"""Shared fixtures: tiny synthetic cohorts generated once per test session (never committed)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLE_ROOT = REPO_ROOT / "bundle"
CONFIGS = BUNDLE_ROOT / "configs"
TINY_SPACING = (2.5, 2.5, 2.5)


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


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory) -> Path:
    """12 subjects (4 per group) at 2.5 mm, 3 folds: small enough for every pipeline and engine test."""
    from scripts.synthetic.cohort import generate_cohort

    out = tmp_path_factory.mktemp("tiny_cohort")
    generate_cohort(out, n_young=4, n_older=4, n_sarcopenic=4, spacing=TINY_SPACING, num_folds=3, progress=False)
    return out


@pytest.fixture(scope="session")
def demo_cohort(tmp_path_factory) -> Path:
    """The default demo cohort (default seed, counts and 1 mm spacing), as the quick start generates it."""
    from scripts.synthetic.cohort import generate_cohort

    out = tmp_path_factory.mktemp("demo_cohort")
    generate_cohort(out, progress=False)
    return out


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def load_datalist(cohort: Path) -> dict:
    return json.loads((cohort / "datalist.json").read_text())


def run_bundle_cli(*args: str, cwd: Path = BUNDLE_ROOT, env: dict | None = None, timeout: float = 600):
    """Run ``python -m <args>`` in a subprocess as a user would, returning the CompletedProcess."""
    full_env = {**os.environ, "PYTHONPATH": str(BUNDLE_ROOT), "MLFLOW_DISABLE_TELEMETRY": "true", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


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
    run_dir = tmp_path_factory.mktemp("tiny_run")
    result = train_tiny(tiny_cohort, run_dir)
    (run_dir / "train.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir
