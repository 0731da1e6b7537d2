"""Two visits of one subject through ``python -m scripts progression``: the change calibration, then the pairs."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
import torch
from conftest import BUNDLE_ROOT, run_bundle_cli

from scripts.synthetic.visits import generate_visit_pairs

pytestmark = pytest.mark.xdist_group("test_progression")
SHIPPED = BUNDLE_ROOT / "models" / "model.pt"  # a model that reconstructs (the tiny one is a smoke test's)
# (the shipped model carries a change calibration of its own: the fixture replaces it with one from its pairs)
FIT = ["--mlflow_tracking", "false"]


@pytest.fixture(scope="session")
def calibrated(tmp_path_factory):
    """Visit pairs (coarse files, for time), and the shipped model with a change calibration from the stable ones."""
    root = tmp_path_factory.mktemp("progression")
    generate_visit_pairs(root / "pairs", n_stable=3, n_progressing=1, step=0.6, spacing=(2.5, 2.5, 2.5), seed=3)
    model = root / "model.pt"
    args = ["--ckpt_path", str(SHIPPED), "--dataset_dir", str(root / "pairs")]
    result = run_bundle_cli("scripts", "progression", "--calibrate_change", *args, "--output_model", str(model), *FIT)
    assert result.returncode == 0, result.stderr[-3000:]
    return root, model


def _rows(out) -> list[dict]:
    with open(out / "progression.csv") as stream:
        return list(csv.DictReader(stream))


def test_pairs_are_scored_with_their_changes_maps_and_decisions(calibrated, tmp_path):
    root, model = calibrated
    stored = torch.load(model, weights_only=True)["change_calibration"]
    assert stored["pairs"] == 3 and stored["sd"]["combined_change"] > 0
    reliability = stored["reliability"]  # the user's own test-retest figures, from the same stable pairs
    assert {"combined", "latent_distance", "volume_input_ml"} <= set(reliability)
    assert reliability["volume_input_ml"]["pairs"] == 3 and reliability["volume_input_ml"]["mdc95"] > 0
    assert reliability["volume_input_ml"]["icc_3_1"] > 0.5  # three muscles of different sizes, each re-segmented
    with open(model.with_name("model_change_calibration") / "reliability.csv") as stream:
        table = {row["score"]: row for row in csv.DictReader(stream)}
    assert float(table["combined"]["mdc95"]) == pytest.approx(reliability["combined"]["mdc95"])
    result = run_bundle_cli(
        "scripts", "progression", "--ckpt_path", str(model), "--dataset_dir", str(root / "pairs"),
        "--output_dir", str(tmp_path), *FIT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    rows = _rows(tmp_path)
    assert [r["subject"] for r in rows] == ["S000", "S001", "S002", "P000"]
    for row in rows:
        assert row["changed"] in ("True", "False") and float(row["code_displacement"]) > 0
        assert {"combined_change", "combined_change_z", "volume_input_ml_change", "change_inward_mm"} <= set(row)
        assert 0.0 <= float(row["alignment_deg"]) < 10.0  # re-posed within 2 degrees per visit
        stem = f"{row['subject']}_{row['first']}_to_{row['second']}"
        assert all((tmp_path / f"{stem}_change.{ext}").is_file() for ext in ("vtk", "ply", "png"))
    progressing = [r for r in rows if r["subject"].startswith("P")]
    assert all(float(r["volume_input_ml_change"]) < 0 for r in progressing)  # the disease takes volume away
    document = json.loads((tmp_path / "progression.json").read_text())
    assert document["stable_pairs"] == 3 and document["change_score"] == "combined_change"
    assert json.dumps(document["reliability"], sort_keys=True) == json.dumps(stored["reliability"], sort_keys=True)
    page = (tmp_path / "progression.html").read_text()
    assert page.count("<script type='application/json' id='view3d-") == 4 and "P000: " in page
    assert "<h2>Test-retest reliability</h2>" in page and "<td>volume_input_ml</td>" in page


def test_one_file_twice_changes_nothing_and_a_copy_only_within_the_fits_noise(calibrated, tmp_path):
    """Through ``configs/progression.json``: the same file as both visits is one visit, no change at all; a copy under
    another name is fitted again from points drawn for its own name (its scores move within the fit's noise: no
    decision), and its change map, measured between the two masks, is exactly zero."""
    root, model = calibrated
    image = root / "pairs" / "images" / "S000_v0.nii.gz"
    shutil.copy(image, tmp_path / "again.nii.gz")
    pairs = f"[['{image}','{image}'],['{image}','{tmp_path / 'again.nii.gz'}']]"
    out = tmp_path / "out"
    args = ["--ckpt_path", str(model), "--pairs", pairs, "--output_dir", str(out)]
    result = run_bundle_cli("monai.bundle", "run", "--config_file", "configs/progression.json", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    same, copy = _rows(out)
    assert same["changed"] == "False" and float(same["code_displacement"]) == 0.0
    assert max(float(same["change_inward_mm"]), float(same["change_outward_mm"])) < 1e-9
    assert copy["changed"] == "False" and float(copy["volume_input_ml_change"]) == 0.0
    assert max(float(copy["change_inward_mm"]), float(copy["change_outward_mm"])) < 1e-9


def test_a_model_without_a_change_calibration_is_refused_in_one_line(tiny_model, calibrated, tmp_path):
    root, _ = calibrated
    args = ["--ckpt_path", str(tiny_model / "models" / "model.pt"), "--dataset_dir", str(root / "pairs")]
    result = run_bundle_cli("scripts", "progression", *args, "--output_dir", str(tmp_path / "out"))
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert last.startswith("error: ") and "has no change calibration" in last
    assert not (tmp_path / "out").exists()


def test_files_given_from_here_are_found_and_a_pair_with_an_unreadable_visit_is_left_out(calibrated, tmp_path):
    """Files named relative to the user's folder (scoring runs from the bundle's); a visit that cannot be scored
    leaves its pair out with a warning naming the file, the other pairs are compared."""
    root, model = calibrated
    for name in ("S001_v0", "S001_v1"):
        shutil.copy(root / "pairs" / "images" / f"{name}.nii.gz", tmp_path / f"{name}.nii.gz")
    (tmp_path / "broken.nii.gz").write_bytes(b"not a labelmap")
    pairs = "[['S001_v0.nii.gz','S001_v1.nii.gz'],['S001_v0.nii.gz','broken.nii.gz']]"
    args = ["--ckpt_path", str(model), "--pairs", pairs, "--output_dir", "out", *FIT]
    result = run_bundle_cli("scripts", "progression", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (row,) = _rows(tmp_path / "out")
    assert (row["first"], row["second"]) == ("S001_v0", "S001_v1")
    assert f"{tmp_path / 'broken.nii.gz'} was not scored; its pairs are left out" in result.stdout + result.stderr


def test_a_change_calibration_with_an_unreadable_visit_is_refused_in_one_line(calibrated, tmp_path):
    root, _ = calibrated
    shutil.copytree(root / "pairs", tmp_path / "pairs")
    (tmp_path / "pairs" / "images" / "S002_v1.nii.gz").write_bytes(b"not a labelmap")
    args = ["--ckpt_path", str(SHIPPED), "--dataset_dir", str(tmp_path / "pairs"), "--output_model", "m.pt", *FIT]
    result = run_bundle_cli("scripts", "progression", "--calibrate_change", *args, cwd=tmp_path)
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "1 visits of stable pairs could not be scored" in last and "S002_v1.nii.gz" in last
    assert not (tmp_path / "m.pt").exists()
