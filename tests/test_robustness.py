"""Messy folders and killed runs: one clear message per bad input, nothing half-written, resumable runs."""

from __future__ import annotations

import csv
import json
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import BUNDLE_ROOT, TINY_TRAINING, cli_overrides, run_bundle_cli, train_tiny
from pipeline_helpers import bad_inputs

FIT = {"coarse_mm": TINY_TRAINING["coarse_mm"]}  # the rest (frame, fit) comes from the model
# scores and labelmaps only: what these tests look at (the figures, meshes and page have tests of their own)
QUIET = {"save_overlays": "False", "save_meshes": "False", "save_summary_page": "False"}


def _infer(inputs, out, model, **extra):
    args = {
        **FIT,
        "dataset_dir": str(inputs),
        "output_dir": str(out),
        "ckpt_path": str(model),
        **QUIET,
        **extra,
    }
    return run_bundle_cli("monai.bundle", "run", "--config_file", "configs/inference.json", *cli_overrides(args))


def _bundle_command(config_file: str, args: dict) -> list[str]:
    """``python -m monai.bundle run`` of ``config_file`` with ``args`` as overrides, to start as a subprocess."""
    return [sys.executable, "-m", "monai.bundle", "run", "--config_file", config_file, *cli_overrides(args)]


def _assert_clean_failure(result, *fragments):
    """A non-zero exit with a one-line message naming the problem, and no traceback."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in output, output[-3000:]
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert error_lines and all(f in error_lines[-1] for f in fragments), result.stderr[-2000:]


@pytest.fixture(scope="module")
def messy_folder(tmp_path_factory, tiny_cohort):
    """Two good labelmaps among every kind of broken file (a 'missing file' cannot sit in a folder)."""
    folder = tmp_path_factory.mktemp("messy")
    good = sorted((tiny_cohort / "images").glob("Y_*.nii.gz"))[:2]
    for path in good:
        shutil.copy(path, folder / path.name)
    cases = bad_inputs(tmp_path_factory.mktemp("broken"), good[0])
    for path, _ in cases.values():
        if path.exists():
            shutil.copy(path, folder / path.name)
    return folder, [p.name for p in good], {n: c for n, c in cases.items() if c[0].exists()}


def test_inference_skips_unusable_files_and_says_why(messy_folder, tiny_model, tmp_path):
    folder, good, cases = messy_folder
    result = _infer(folder, tmp_path, tiny_model / "models" / "model.pt")
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads((tmp_path / "scores.json").read_text())
    assert sorted(s["id"] for s in document["subjects"]) == sorted(g.split(".")[0] for g in good)
    reasons = {entry["image"].rsplit("/", 1)[-1]: entry["reason"] for entry in document["skipped"]}
    for name, (path, expected) in cases.items():
        if name == "wrong_extension":  # not a labelmap file name: never picked up from a folder
            assert path.name not in reasons
            continue
        assert expected in reasons[path.name], (name, reasons.get(path.name))
        assert not list(tmp_path.glob(f"{path.name.split('.')[0]}_*"))  # nothing written for a skipped file
    assert not list(tmp_path.glob(".*tmp*"))


def test_inference_stops_on_the_first_unusable_file_when_asked(messy_folder, tiny_model, tmp_path):
    folder, _, cases = messy_folder
    result = _infer(folder, tmp_path, tiny_model / "models" / "model.pt", skip_invalid="False")
    _assert_clean_failure(result, str(folder))
    assert not list(tmp_path.glob(".*tmp*"))


@pytest.mark.parametrize("case", ["nan", "4d"])
def test_training_stops_on_a_broken_training_file(tiny_cohort, tmp_path, case):
    cohort = tmp_path / "cohort"
    shutil.copytree(tiny_cohort, cohort)
    datalist = json.loads((cohort / "datalist.json").read_text())
    victim = next(s for s in datalist["subjects"] if s["id"] == datalist["folds"][0]["train"][0])
    broken, expected = bad_inputs(tmp_path / "broken", cohort / victim["image"])[case]
    shutil.copy(broken, cohort / victim["image"])
    result = train_tiny(cohort, tmp_path / "run")
    _assert_clean_failure(result, victim["image"].split("/")[-1], expected)
    assert not (tmp_path / "run" / "models" / "model.pt").exists()


@pytest.mark.parametrize(
    "problem, expected",
    [("missing", "image(s) not found"), ("duplicate", "more than once"), ("too_large", "exceed the limit")],
)
def test_training_stops_on_a_bad_datalist_or_volume(tiny_cohort, tmp_path, problem, expected):
    cohort = tmp_path / "cohort"
    shutil.copytree(tiny_cohort, cohort)
    datalist = json.loads((cohort / "datalist.json").read_text())
    extra = {}
    if problem == "missing":
        (cohort / datalist["subjects"][0]["image"]).unlink()
    elif problem == "duplicate":
        datalist["subjects"].append(dict(datalist["subjects"][0]))
    else:
        extra["max_voxels"] = "1000"
    (cohort / "datalist.json").write_text(json.dumps(datalist))
    _assert_clean_failure(train_tiny(cohort, tmp_path / "run", **extra), expected)


def test_killed_training_resumes_and_finishes(tiny_cohort, tmp_path):
    epochs = {"epochs": "300", "val_interval": "300", "checkpoint_interval": "1"}  # ~12 ms per tiny epoch
    args = {
        **TINY_TRAINING,
        **epochs,
        "dataset_dir": str(tiny_cohort),
        "ckpt_dir": str(tmp_path / "models"),
        "output_dir": str(tmp_path / "eval"),
    }
    command = _bundle_command("configs/train.json", args)
    process = subprocess.Popen(command, cwd=BUNDLE_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while not list((tmp_path / "models").glob("checkpoint_epoch=*.pt")) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(random.uniform(0.0, 1.0))  # somewhere in the middle of an epoch, or of a save
    assert process.poll() is None, "training ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    for path in (tmp_path / "models").glob("[!.]*.pt"):  # atomic writes: every final file is complete
        torch.load(path, weights_only=True)  # (a kill during a save leaves a hidden temporary, removed on resume)
    assert not (tmp_path / "models" / "model_final.pt").exists()
    result = train_tiny(tiny_cohort, tmp_path, **epochs)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming training from" in result.stdout + result.stderr
    final = torch.load(tmp_path / "models" / "model_final.pt", weights_only=True)
    assert final["trainer"]["iteration"] == 300 * final["trainer"]["epoch_length"]
    assert (tmp_path / "models" / "model.pt").is_file()
    assert not list((tmp_path / "models").glob(".*tmp*"))


def test_killed_inference_redoes_only_what_is_missing(tiny_cohort, tiny_model, tmp_path):
    model = tiny_model / "models" / "model.pt"
    args = {
        **FIT,
        "dataset_dir": str(tiny_cohort / "images"),
        "output_dir": str(tmp_path),
        "ckpt_path": str(model),
        **QUIET,
        "fit_batch_size": "1",
    }
    command = _bundle_command("configs/inference.json", args)
    process = subprocess.Popen(command, cwd=BUNDLE_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while len(list(tmp_path.glob("*_scores.json"))) < 2 and time.time() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(list(tmp_path.glob("*_scores.json")))
    assert 2 <= done_before < 12 and not (tmp_path / "scores.csv").exists()
    result = run_bundle_cli("monai.bundle", "run", "--config_file", "configs/inference.json", *cli_overrides(args))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{done_before} subject(s) already complete" in result.stdout + result.stderr
    with open(tmp_path / "scores.csv") as stream:
        assert len(list(csv.DictReader(stream))) == 12
    assert not list(tmp_path.glob(".*tmp*"))


class _Payload:
    def __reduce__(self):
        return (print, ("this should never run",))


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("tampered", "not a safe, readable checkpoint"),
        ("foreign", "does not fit this bundle's model"),
        ("truncated", "not a safe, readable checkpoint"),
    ],
)
def test_unsafe_or_foreign_checkpoints_are_refused(tiny_cohort, tiny_model, tmp_path, kind, expected):
    checkpoint = tmp_path / "model.pt"
    if kind == "tampered":
        checkpoint.write_bytes(pickle.dumps({"network_def": _Payload()}))
    elif kind == "foreign":
        torch.save({"network_def": torch.nn.Linear(3, 1).state_dict(), "latent_table": {}, "reference": {}}, checkpoint)
    else:
        data = (tiny_model / "models" / "model.pt").read_bytes()
        checkpoint.write_bytes(data[: len(data) // 3])
    result = _infer(tiny_cohort / "images", tmp_path / "out", checkpoint)
    _assert_clean_failure(result, str(checkpoint), expected)
    assert "this should never run" not in result.stdout


def test_training_and_scoring_are_reproducible(tiny_cohort, tiny_model, tmp_path):
    again = train_tiny(tiny_cohort, tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    first = torch.load(tiny_model / "models" / "model.pt", weights_only=True)
    second = torch.load(tmp_path / "models" / "model.pt", weights_only=True)
    for part in ("network_def", "latent_table"):
        for name, value in first[part].items():
            if isinstance(value, torch.Tensor):
                torch.testing.assert_close(second[part][name], value, rtol=0, atol=1e-6, msg=name)
    scores = []
    for run in ("a", "b"):
        result = _infer(tiny_cohort / "images", tmp_path / run, tiny_model / "models" / "model.pt")
        assert result.returncode == 0, result.stderr[-3000:]
        scores.append(json.loads((tmp_path / run / "scores.json").read_text())["subjects"])
    for a, b in zip(*scores, strict=True):
        for key in ("dice", "asd_mm", "latent_distance", "combined"):
            assert a[key] == pytest.approx(b[key], abs=1e-6), key


def test_two_inference_processes_share_an_output_folder(tiny_cohort, tiny_model, tmp_path):
    args = {
        **FIT,
        "dataset_dir": str(tiny_cohort / "images"),
        "output_dir": str(tmp_path),
        **QUIET,
        "ckpt_path": str(tiny_model / "models" / "model.pt"),
        "resume": "False",
    }
    command = _bundle_command("configs/inference.json", args)
    processes = [
        subprocess.Popen(command, cwd=BUNDLE_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)
    ]
    for process in processes:
        assert process.wait(timeout=300) == 0, process.stderr.read().decode()[-2000:]
    with open(tmp_path / "scores.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 12 and len({r["id"] for r in rows}) == 12
    for row in rows:
        json.loads((tmp_path / f"{row['id']}_scores.json").read_text())
        assert np.load(tmp_path / f"{row['id']}_code.npy").shape == (128,)
        import nibabel as nib

        assert nib.load(tmp_path / f"{row['id']}_recon.nii.gz").get_fdata().max() <= 1
    assert not list(tmp_path.glob(".*tmp*"))


def test_evaluation_stops_on_a_broken_test_file(tiny_cohort, tiny_model, tmp_path):
    cohort = tmp_path / "cohort"
    shutil.copytree(tiny_cohort, cohort)
    datalist = json.loads((cohort / "datalist.json").read_text())
    victim = next(s for s in datalist["subjects"] if s["id"] == datalist["folds"][0]["test"][-1])
    broken, expected = bad_inputs(tmp_path / "broken", cohort / victim["image"])["truncated"]
    shutil.copy(broken, cohort / victim["image"])
    args = {
        **FIT,
        "dataset_dir": str(cohort),
        "ckpt_dir": str(tiny_model / "models"),
        "output_dir": str(tmp_path / "eval"),
        **QUIET,
    }
    result = run_bundle_cli(
        "monai.bundle",
        "run",
        "--config_file",
        "['configs/inference.json','configs/evaluate.json']",
        *cli_overrides(args),
    )
    _assert_clean_failure(result, victim["image"].split("/")[-1], expected)
    out = tmp_path / "eval" / "evaluation_fold0"
    assert not (out / "scores.csv").exists() and not (out / "scores.json").exists()
    assert not list(out.glob(".*tmp*")) if out.exists() else True
