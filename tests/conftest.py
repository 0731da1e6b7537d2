"""Shared fixtures: tiny synthetic cohorts generated once per test session (never committed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLE_ROOT = REPO_ROOT / "bundle"
TINY_SPACING = (2.5, 2.5, 2.5)


@pytest.fixture(scope="session")
def bundle_root() -> Path:
    return BUNDLE_ROOT


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory) -> Path:
    """12 subjects (4 per group) at 2.5 mm, 3 folds: small enough for every pipeline and engine test."""
    from scripts.cohort import generate_cohort

    out = tmp_path_factory.mktemp("tiny_cohort")
    generate_cohort(out, n_young=4, n_older=4, n_sarcopenic=4, spacing=TINY_SPACING, num_folds=3, progress=False)
    return out


@pytest.fixture(scope="session")
def demo_cohort(tmp_path_factory) -> Path:
    """The default demo cohort (default seed, counts and 1 mm spacing), as the quick start generates it."""
    from scripts.cohort import generate_cohort

    out = tmp_path_factory.mktemp("demo_cohort")
    generate_cohort(out, progress=False)
    return out


def load_datalist(cohort: Path) -> dict:
    return json.loads((cohort / "datalist.json").read_text())


def run_bundle_cli(*args: str, cwd: Path = BUNDLE_ROOT, env: dict | None = None, timeout: float = 600):
    """Run ``python -m <args>`` in a subprocess as a user would, returning the CompletedProcess."""
    full_env = {**os.environ, "PYTHONPATH": str(BUNDLE_ROOT), "MLFLOW_DISABLE_TELEMETRY": "true", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )
