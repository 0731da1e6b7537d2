"""multi_gpu_train.json under torchrun with two CPU processes (gloo): the ranks stay in sync."""

from __future__ import annotations

import os
import subprocess
import sys

import torch
from conftest import BUNDLE_ROOT, TINY_TRAINING, cli_overrides, free_port, load_datalist


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
