"""Subjects scored and written in worker processes give the files and scores of the engine's thread, in order."""

from __future__ import annotations

import hashlib
import json

import pytest
from conftest import TINY_TRAINING, cli_overrides, run_bundle_cli

from scripts.handlers.scoring_pool import ScoringPool


def _infer(tiny_model, tiny_cohort, out, **args):
    files = [str(tiny_cohort / "images" / f"{s}.nii.gz") for s in ("Y_000", "OS_000", "OH_001")]
    overrides = {
        "coarse_mm": TINY_TRAINING["coarse_mm"],
        "ckpt_path": str(tiny_model / "models" / "model.pt"),
        "input_files": "['" + "','".join(files) + "']",
        "output_dir": str(out),
        "save_summary_page": "false",
        "mlflow_tracking": "false",
        "fit_batch_size": "2",  # two batches: the pool outlives one
        **args,
    }
    return run_bundle_cli("monai.bundle", "run", "--config_file", "configs/inference.json", *cli_overrides(overrides))


def _digests(folder) -> dict[str, str]:
    """Every file a run wrote per subject (labelmaps, codes, meshes, scores), by name, as digests."""
    kept = (".nii.gz", ".npy", ".vtk", ".ply", "_scores.json")
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.name.endswith(kept)}


def test_workers_write_what_the_engines_thread_writes(tiny_model, tiny_cohort, tmp_path):
    serial = _infer(tiny_model, tiny_cohort, tmp_path / "serial", scoring_workers="0")
    assert serial.returncode == 0, serial.stderr[-3000:]
    pooled = _infer(tiny_model, tiny_cohort, tmp_path / "pooled", scoring_workers="2")
    assert pooled.returncode == 0, pooled.stderr[-3000:]
    written = _digests(tmp_path / "serial")
    assert len(written) >= 3 * 6 and written == _digests(tmp_path / "pooled")  # bit for bit, every file
    rows = [json.loads((tmp_path / p / "scores.json").read_text())["subjects"] for p in ("serial", "pooled")]
    assert [r["id"] for r in rows[1]] == ["Y_000", "OS_000", "OH_001"] and rows[0] == rows[1]
    overlays = sorted(p.name for p in (tmp_path / "pooled" / "figures").iterdir())
    assert overlays == ["OH_001_overlay.png", "OS_000_overlay.png", "Y_000_overlay.png"]


def test_an_error_in_a_worker_ends_the_run_with_its_own_line(tiny_model, tiny_cohort, tmp_path):
    result = _infer(tiny_model, tiny_cohort, tmp_path / "out", scoring_workers="2", decision_score="thick")
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert last.startswith("error: --decision_score thick: not a score this model is calibrated for"), last
    assert not (tmp_path / "out" / "scores.csv").exists()


def test_a_negative_number_of_workers_is_refused():
    with pytest.raises(ValueError, match="scoring_workers: -1 must be 0"):
        ScoringPool(lambda d: d, lambda d: d, workers=-1)


@pytest.mark.parametrize("share, cores, expected", [("", 2, 2), ("1", 2, 0), ("", 1, 0), ("4", 16, 4), ("x", 3, 3)])
def test_workers_by_default_one_per_core_this_process_may_use(monkeypatch, share, cores, expected):
    """A process limited to one core (by its affinity or its share of threads) scores on the engine's thread."""
    from scripts import runtime

    monkeypatch.setenv("OMP_NUM_THREADS", share)
    monkeypatch.setattr(runtime.os, "sched_getaffinity", lambda _: set(range(cores)))
    assert runtime.default_workers() == expected


class _RowsTaken:
    """A writer that keeps the outputs handed to it when the run completes (its subject writer writes nothing)."""

    def __init__(self) -> None:
        self.taken: list[dict] = []

    def subject_writer(self):
        return lambda item, row: None

    def take(self, outputs: list[dict]) -> None:
        self.taken.extend(outputs)


def test_a_batch_is_scored_while_the_engine_fits_the_next_and_rows_keep_their_order():
    """Batch k's rows reach the writer when batch k + 1's fit completes, the last batch's when the run does."""
    from ignite.engine import Engine, Events
    from monai.engines.utils import IterationEvents

    def fit(engine, batch):
        engine.state.batch = batch
        engine.state.output = [{"fitted": True} for _ in batch]
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output

    engine = Engine(fit)
    engine.register_events(*IterationEvents)
    writer = _RowsTaken()
    pool = ScoringPool(lambda d: d, lambda d: {**d, "scores": {"id": d["id"], "fitted": d["fitted"]}}, writer, 2)
    pool.attach(engine)
    handed: list[list[str]] = []
    engine.add_event_handler(
        Events.ITERATION_COMPLETED, lambda e: handed.append([o["scores"]["id"] for o in e.state.output])
    )
    batches = [[{"id": f"S{k}{i}"} for i in range(3)] for k in range(3)]
    engine.run(batches)
    assert handed == [[], ["S00", "S01", "S02"], ["S10", "S11", "S12"]]
    assert [o["scores"]["id"] for o in writer.taken] == ["S20", "S21", "S22"]
    assert all(o["written"] and o["scores"]["fitted"] for o in writer.taken) and pool.pool is None
