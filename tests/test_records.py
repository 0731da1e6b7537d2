"""Runs never mix: a folder reuses a subject's outputs only when the same model, settings and input made them, and
training resumes only its own run, away from the shipped model."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil

import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import BUNDLE_ROOT, TINY_TRAINING, cli_overrides, run_bundle_cli, train_tiny

from scripts.errors import InputError
from scripts.records import TrainingRecord, differences, file_digest, resume_mode
from scripts.synthetic.cohort import generate_cohort

FIT = {
    "coarse_mm": TINY_TRAINING["coarse_mm"],
    "save_overlays": "false",
    "save_meshes": "false",
    "save_summary_page": "false",
}


def _infer(**args):
    return run_bundle_cli(
        "monai.bundle", "run", "--config_file", "configs/inference.json", *cli_overrides({**FIT, **args})
    )


def _subject(out, subject: str) -> dict:
    return json.loads((out / f"{subject}_scores.json").read_text())


def _table(out) -> list[dict]:
    with open(out / "scores.csv") as stream:
        return list(csv.DictReader(stream))


def test_resume_modes_digests_and_differences(tmp_path):
    modes = [resume_mode(v) for v in (True, False, "strict", "Yes", "off")]
    assert modes == ["true", "false", "strict", "true", "false"]
    with pytest.raises(InputError, match="--resume: expected true, false or strict, got 'maybe'"):
        resume_mode("maybe")
    header, raw = tmp_path / "a.mhd", tmp_path / "a.raw"
    header.write_text("NDims = 3\nElementDataFile = a.raw\n")
    raw.write_bytes(b"\x00\x01")
    before = file_digest(header)
    raw.write_bytes(b"\x00\x02")  # the data of a detached MetaImage belong to the input
    assert file_digest(header) != before and file_digest(tmp_path / "missing.nii.gz") is None
    found = differences({"settings": {"label": 1, "level": 0.95}}, {"settings": {"label": 1.0, "level": 0.99}})
    assert found == ["settings.level 0.95 -> 0.99"]


def test_a_training_record_names_what_differs(tiny_cohort):
    items = [{"id": "a", "image": str(next((tiny_cohort / "images").iterdir()))}]
    record = TrainingRecord(items, [], fold=0, settings={"lr": 0.1, "epochs": 4})
    assert record.differences(record.state_dict()) == []
    longer = TrainingRecord(items, [], fold=0, settings={"lr": 0.1, "epochs": 8})  # training longer is resuming
    assert longer.differences(record.state_dict()) == []
    other = TrainingRecord(items + [dict(items[0], id="b")], [], fold=1, settings={"lr": 0.2})
    assert other.differences(record.state_dict()) == ["fold 0 -> 1", "lr 0.1 -> 0.2", "train subjects added: b"]
    assert "earlier version" in other.differences(None)[0]
    adopting = TrainingRecord()  # a recalibrated model keeps the record of its training
    adopting.load_state_dict(record.state_dict())
    assert adopting.values == record.values


@pytest.fixture(scope="module")
def two_subjects(tiny_cohort):
    return "['" + "','".join(str(tiny_cohort / "images" / f"{s}.nii.gz") for s in ("Y_000", "OS_000")) + "']"


def test_a_folder_reuses_only_what_this_run_would_have_made(tiny_model, two_subjects, tmp_path):
    out, model = tmp_path / "out", str(tiny_model / "models" / "model.pt")
    first = _infer(input_files=two_subjects, ckpt_path=model, output_dir=str(out))
    assert first.returncode == 0, first.stderr[-3000:]
    made = _subject(out, "Y_000")["made_by"]
    assert made["model_sha256"] == hashlib.sha256(open(model, "rb").read()).hexdigest()
    assert made["input_sha256"] == _table(out)[0]["input_sha256"] and made["settings"]["calibration_level"] == 0.95
    assert json.loads((out / "scores.json").read_text())["made_by"]["model_sha256"] == made["model_sha256"]
    stamp = (out / "Y_000_scores.json").stat().st_mtime_ns

    same = _infer(input_files=two_subjects, ckpt_path=model, output_dir=str(out))
    assert same.returncode == 0 and "2 subject(s) already complete" in same.stdout + same.stderr
    assert (out / "Y_000_scores.json").stat().st_mtime_ns == stamp

    # another decision level: every subject is judged again, and the table agrees with the level it reports
    level = _infer(input_files=two_subjects, ckpt_path=model, output_dir=str(out), calibration_level="0.99999")
    assert level.returncode == 0 and "already complete" not in level.stdout + level.stderr
    document = json.loads((out / "scores.json").read_text())
    threshold = document["calibration"]["z_threshold"]
    assert document["calibration"]["level"] == 0.99999
    for row in document["subjects"]:
        assert row["decision"] == ("abnormal" if row["combined_z"] > threshold else "normal")
        assert _subject(out, row["id"])["made_by"]["settings"]["calibration_level"] == 0.99999

    # strict refuses in one line naming what differs, and leaves everything as it was
    table = (out / "scores.csv").read_bytes()
    strict = _infer(input_files=two_subjects, ckpt_path=model, output_dir=str(out), resume="strict")
    line = strict.stderr.strip().splitlines()[-1]
    assert strict.returncode == 1 and "Traceback" not in strict.stderr
    assert "made by another run" in line and "settings.calibration_level 0.99999 -> 0.95" in line, line
    assert (out / "scores.csv").read_bytes() == table

    # another model file (the same weights, another reference level stored): every subject scored again by it
    state = torch.load(model, weights_only=True)
    state["reference"]["level"] = 0.9
    other = tmp_path / "other.pt"
    torch.save(state, other)
    again = _infer(input_files=two_subjects, ckpt_path=str(other), output_dir=str(out), calibration_level="0.99999")
    assert again.returncode == 0 and "already complete" not in again.stdout + again.stderr
    assert {_subject(out, s)["made_by"]["model_sha256"] for s in ("Y_000", "OS_000")} == {file_digest(other)}

    # another observation of the same files: scored again, on the observed slices
    observed = _infer(
        input_files=two_subjects,
        ckpt_path=str(other),
        output_dir=str(out),
        calibration_level="0.99999",
        observation="parallel",
        allow_uncalibrated="true",
    )
    assert observed.returncode == 0 and "already complete" not in observed.stdout + observed.stderr
    assert all(row["observed_fraction"] != "1.0" for row in _table(out))  # the tiny model may restore nothing (nan)
    assert _subject(out, "Y_000")["made_by"]["settings"]["observation"] == "parallel"


def test_another_label_of_the_same_file_is_scored_again(tiny_model, tmp_path):
    shape = {"n_young": 2, "n_older": 1, "n_sarcopenic": 0, "num_folds": 3, "spacing": (2.5, 2.5, 2.5)}
    generate_cohort(tmp_path / "ml", multilabel=True, muscle_label=2, progress=False, **shape)
    source = tmp_path / "ml" / "images" / "Y_000.nii.gz"
    args = {"input_files": f"['{source}']", "ckpt_path": str(tiny_model / "models" / "model.pt")}
    out = tmp_path / "out"
    for label in (2, 1):  # the muscle, then the deeper neighbour labelled 1
        result = _infer(**args, output_dir=str(out), label=str(label))
        assert result.returncode == 0 and "already complete" not in result.stdout + result.stderr
        volume = (np.asarray(nib.load(source).dataobj) == label).sum() * 2.5**3 / 1000
        assert float(_table(out)[0]["volume_input_ml"]) == pytest.approx(volume)
        assert _subject(out, "Y_000")["made_by"]["settings"]["label"] == label


def test_training_resumes_only_its_own_run_and_never_writes_the_shipped_model(tiny_cohort, tmp_path):
    shipped = BUNDLE_ROOT / "models" / "model.pt"
    shipped_digest = file_digest(shipped)
    first = train_tiny(tiny_cohort, tmp_path, epochs="1", val_interval="1")
    assert first.returncode == 0, first.stderr[-3000:]
    strict = train_tiny(tiny_cohort, tmp_path, epochs="1", val_interval="1", fold="1", resume="strict")
    line = strict.stderr.strip().splitlines()[-1]
    assert strict.returncode == 1 and "made by another training run" in line and "fold 0 -> 1" in line, line
    fresh = train_tiny(tiny_cohort, tmp_path, epochs="1", val_interval="1", fold="1")
    log = fresh.stdout + fresh.stderr
    assert fresh.returncode == 0 and "records another training run" in log and "starting afresh" in log
    assert "resuming training from" not in log
    record = json.loads(torch.load(tmp_path / "models" / "model.pt", weights_only=True)["run"]["record"])
    assert record["fold"] == 1 and "val_interval" not in record["settings"]

    # the README's training command without --ckpt_dir: a folder of its own per cohort and fold
    root = tmp_path / "bundle_root"
    shutil.copytree(BUNDLE_ROOT / "configs", root / "configs")
    overrides = {**TINY_TRAINING, "epochs": "1", "val_interval": "1", "dataset_dir": str(tiny_cohort)}
    result = run_bundle_cli(
        "monai.bundle", "run", "--config_file", "configs/train.json", *cli_overrides(overrides, bundle_root=str(root))
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (root / "runs" / f"{tiny_cohort.name}-fold0" / "model.pt").is_file()
    assert file_digest(shipped) == shipped_digest and not (root / "models").exists()
