"""The multi_gpu_* overlays under torchrun with two CPU processes (gloo): training in sync, scoring shared out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import BUNDLE_ROOT, TINY_TRAINING, cli_overrides, free_port, load_datalist, run_bundle_cli


def test_two_processes_end_with_identical_weights(tiny_cohort, tmp_path):
    weights = tmp_path / "rank"
    save = f"$torch.save(@auto_decoder.state_dict(), '{weights}' + str(dist.get_rank()) + '.pt')"
    finalize = repr([save, "$dist.destroy_process_group()"])
    args = {
        **TINY_TRAINING,
        "epochs": "3",
        "val_interval": "3",
        "dataset_dir": str(tiny_cohort),
        "ckpt_dir": str(tmp_path / "models"),
        "output_dir": str(tmp_path / "eval"),
        "finalize": finalize,
    }
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        "--nproc_per_node=2",
        f"--master_port={free_port()}",
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        "['configs/train.json','configs/multi_gpu_train.json']",
        *cli_overrides(args),
    ]
    env = {**os.environ, "PYTHONPATH": str(BUNDLE_ROOT), "OMP_NUM_THREADS": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
    result = subprocess.run(command, cwd=BUNDLE_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]

    rank0, rank1 = (torch.load(f"{weights}{r}.pt", weights_only=True) for r in (0, 1))
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        if isinstance(rank0[name], torch.Tensor):
            torch.testing.assert_close(rank0[name], rank1[name], rtol=0, atol=0, msg=name)
    # the distributed sampler gives each rank half of the training subjects per epoch
    initial = torch.load(tmp_path / "models" / "model_final.pt", weights_only=True)
    assert initial["trainer"]["epoch_length"] == (len(load_datalist(tiny_cohort)["folds"][0]["train"]) + 3) // 4
    # only rank 0 writes checkpoints, the model and the tracking store
    assert (tmp_path / "models" / "model.pt").is_file() and (tmp_path / "eval" / "mlruns.db").is_file()


def _torchrun(config_file: str, args: dict, nproc: int = 2) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        f"--nproc_per_node={nproc}",
        f"--master_port={free_port()}",
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        config_file,
        *cli_overrides(args),
    ]


ENV = {"PYTHONPATH": str(BUNDLE_ROOT), "OMP_NUM_THREADS": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
SCORING = {
    "coarse_mm": TINY_TRAINING["coarse_mm"],
    "save_overlays": "False",
    "save_meshes": "False",
    "save_summary_page": "False",
}


def _rows(path):
    return [(s["id"], s) for s in json.loads(path.read_text())["subjects"]]


def _assert_same_tables(a, b):
    rows_a, rows_b = _rows(a), _rows(b)
    assert [i for i, _ in rows_a] == [i for i, _ in rows_b]
    for (subject, x), (_, y) in zip(rows_a, rows_b, strict=True):
        for name in ("dice", "asd_mm", "extra_fraction", "latent_distance", "normative_score", "combined_z"):
            assert x[name] == pytest.approx(y[name], rel=1e-4, abs=1e-5), (subject, name)
        assert x["decision"] == y["decision"]


def test_a_killed_two_process_run_is_completed_by_a_rerun_that_scores_like_one_process(
    tiny_model, tiny_cohort, tmp_path
):
    """Kill both ranks of an evaluation mid-run (``multi_gpu_evaluate.json``, which is ``multi_gpu_inference.json``'s
    set-up): the re-run scores only the subjects whose outputs are missing, and rank 0 merges one table equal to a
    single process's."""
    args = {**SCORING, "dataset_dir": str(tiny_cohort), "ckpt_dir": str(tiny_model / "models")}
    args.update(output_dir=str(tmp_path / "two"), fit_batch_size="1")
    config = "['configs/inference.json','configs/evaluate.json','configs/multi_gpu_evaluate.json']"
    scores = "evaluation_fold0"
    process = subprocess.Popen(
        _torchrun(config, args),
        cwd=BUNDLE_ROOT,
        env={**os.environ, **ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 300
    written = tmp_path / "two" / scores
    while len(list(written.glob("*_scores.json"))) < 2 and process.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done = len(list(written.glob("*_scores.json")))
    total = len(load_datalist(tiny_cohort)["folds"][0]["test"])
    assert 2 <= done < total and not (written / "scores.csv").exists()
    again = subprocess.run(
        _torchrun(config, args), cwd=BUNDLE_ROOT, env={**os.environ, **ENV}, capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stderr[-4000:]
    assert "already complete, not processed again" in again.stdout + again.stderr
    single = "['configs/inference.json','configs/evaluate.json']"
    one = run_bundle_cli(
        "monai.bundle", "run", "--config_file", single, *cli_overrides(args, output_dir=tmp_path / "one")
    )
    assert one.returncode == 0, one.stderr[-3000:]
    _assert_same_tables(tmp_path / "one" / scores / "scores.json", written / "scores.json")
    assert json.loads((written / "scores.json").read_text())["summary"]["subjects"] == total
    tables = [p for p in (tmp_path / "two").rglob("scores.csv") if "mlruns" not in p.parts]
    assert len(tables) == 1  # one shared table, written by rank 0 only (its copy in MLflow aside)
