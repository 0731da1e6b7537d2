"""inference.json through ``python -m monai.bundle run``: outputs on each input's own grid, scores, decisions."""

from __future__ import annotations

import csv
import json
import shutil

import itk
import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import (
    BUNDLE_ROOT,
    TINY_TRAINING,
    bundle_config,
    cli_overrides,
    load_datalist,
    parsing_error,
    run_bundle_cli,
)
from mlflow.tracking import MlflowClient
from sklearn.metrics import roc_auc_score

from scripts.checkpoints import load_checkpoint
from scripts.synthetic.cohort import generate_cohort

FIT = {"coarse_mm": TINY_TRAINING["coarse_mm"]}  # the rest (frame, fit) comes from the model
SHIPPED_MODEL = BUNDLE_ROOT / "models" / "model.pt"


def _header(path):
    """Shape and RAS affine of a labelmap file, read by nibabel (NIfTI) or ITK (others)."""
    if path.name.endswith((".nii", ".nii.gz")):
        image = nib.load(path)
        return image.shape, image.affine
    image = itk.imread(str(path))
    direction = np.array(image.GetDirection()) * np.array(image.GetSpacing())
    affine = np.eye(4)
    affine[:3, :3], affine[:3, 3] = direction, np.array(image.GetOrigin())
    lps_to_ras = np.diag([-1.0, -1.0, 1.0, 1.0])
    return tuple(itk.size(image))[::1], lps_to_ras @ affine


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory):
    """A user's folder: NIfTI RAS, NRRD LPS anisotropic and MetaImage PIR labelmaps of different subjects."""
    root = tmp_path_factory.mktemp("mixed")
    folder = root / "inputs"
    folder.mkdir()
    common = {"n_young": 2, "n_older": 1, "n_sarcopenic": 1, "num_folds": 3, "progress": False}
    variants = [("nii.gz", (2.5, 2.5, 2.5), "RAS"), ("nrrd", (2.0, 2.0, 3.5), "LPS"), ("mha", (2.5, 2.5, 2.5), "PIR")]
    for fmt, spacing, axcodes in variants:
        generate_cohort(root / fmt, spacing=spacing, image_format=fmt, axcodes=axcodes, **common)
    shutil.copy(root / "nii.gz/images/Y_000.nii.gz", folder / "alpha.nii.gz")
    shutil.copy(root / "nrrd/images/OS_000.nrrd", folder / "beta.nrrd")
    shutil.copy(root / "mha/images/OH_000.mha", folder / "gamma.mha")
    return folder


def test_inference_on_a_folder_of_mixed_formats(mixed_folder, tiny_model, tmp_path):
    out = tmp_path / "out"
    args = {
        **FIT,
        "dataset_dir": str(mixed_folder),
        "ckpt_path": str(tiny_model / "models" / "model.pt"),
        "output_dir": str(out),
        "output_ext": "auto",
    }
    result = run_bundle_cli("monai.bundle", "run", "--config_file", "configs/inference.json", *cli_overrides(args))
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr  # as a log file receives it: no progress-bar fragments, no deprecation notices
    assert "\r" not in log and "deprecated" not in log.lower(), log[-2000:]
    for source in sorted(mixed_folder.iterdir()):
        stem, ext = source.name.split(".", 1)
        for kind in ("recon", "anomaly_map"):
            written = out / f"{stem}_{kind}.{ext}"
            shape, affine = _header(written)
            source_shape, source_affine = _header(source)
            assert shape == source_shape, (written, shape, source_shape)
            np.testing.assert_allclose(affine, source_affine, atol=1e-4)
        assert np.load(out / f"{stem}_code.npy").shape == (128,)
        assert (out / "figures" / f"{stem}_overlay.png").is_file()
    anomaly = nib.load(out / "alpha_anomaly_map.nii.gz").get_fdata()
    assert set(np.unique(anomaly)) <= {0, 1, 2}

    with open(out / "scores.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert [r["id"] for r in rows] == ["alpha", "beta", "gamma"]
    for column in (
        "dice",
        "hd95_mm",
        "hausdorff_mm",
        "asd_mm",
        "volume_input_ml",
        "volume_recon_ml",
        "volume_error_ml",
        "volume_error_pct",
        "recon_score",
        "extra_fraction",
        "inward_depth_mm",
        "latent_distance",
        "normative_score",
        "combined",
        "combined_z",
        "combined_percentile",
        "combined_abnormal",
        "reference_subjects",
        "decision",
        "fit_stability",
        "islands",
    ):
        assert column in rows[0], column
    assert {r["decision"] for r in rows} <= {"normal", "abnormal"}
    document = json.loads((out / "scores.json").read_text())
    assert document["decision_score"] == "combined"
    assert set(document["calibration"]["thresholds"]) >= {"recon_score", "combined"}
    assert document["calibration"]["level"] == 0.95 and document["calibration"]["reference_subjects"] >= 2
    assert document["model_settings"]["target_spacing"] == [2.5, 2.5, 2.5] and document["summary"]["subjects"] == 3

    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlruns.db'}")
    run = client.search_runs([client.get_experiment_by_name("muscle_shape_inr_anomaly").experiment_id])[0]
    assert "mean_recon_dice" in run.data.metrics
    assert {"scores.csv", "scores.json"} <= {a.path for a in client.list_artifacts(run.info.run_id)}


def test_writing_and_loading_on_background_threads_gives_what_inline_runs_do(mixed_folder, tiny_model, tmp_path):
    """Subjects prepared ahead (``--prefetch_subjects``) and their files written off the engine's thread
    (``--writer_threads``): the same files with the same scores as a run doing both on the engine's thread. The
    threaded run also tracks nothing (``--mlflow_tracking false``): no tracking store, every other file the same."""
    args = {**FIT, "dataset_dir": str(mixed_folder), "ckpt_path": str(tiny_model / "models" / "model.pt")}
    outputs = {}
    for threads in (0, 2):
        out = tmp_path / f"threads{threads}"
        given = cli_overrides(
            args,
            output_dir=str(out),
            writer_threads=threads,
            prefetch_subjects=threads,
            save_summary_page="False",
            mlflow_tracking=str(threads == 0),
        )
        result = run_bundle_cli("monai.bundle", "run", "--config_file", "configs/inference.json", *given)
        assert result.returncode == 0, result.stderr[-3000:]
        files = {p.relative_to(out) for p in out.rglob("*") if p.is_file() and "mlruns" not in str(p)}
        with open(out / "scores.csv") as stream:
            outputs[threads] = files, list(csv.DictReader(stream))
    (inline_files, inline_rows), (threaded_files, threaded_rows) = outputs[0], outputs[2]
    assert (tmp_path / "threads0" / "mlruns.db").is_file() and not (tmp_path / "threads2" / "mlruns.db").exists()
    assert not any("mlruns" in str(p) for p in (tmp_path / "threads2").rglob("*"))
    assert threaded_files == inline_files and any(p.suffix == ".png" for p in inline_files)
    assert [r["id"] for r in threaded_rows] == [r["id"] for r in inline_rows]
    for inline, threaded in zip(inline_rows, threaded_rows, strict=True):
        assert threaded == inline


def test_a_partial_observation_is_calibrated_in_its_mode_and_scored_on_the_input_grid(
    mixed_folder, demo_cohort, tmp_path
):
    """The shipped model, recalibrated for orthogonal planes on a folder of three healthy labelmaps (a cohort of
    another size than the one it was trained on), scores a folder of mixed geometries from their planes alone."""
    infer = ("monai.bundle", "run", "--config_file", "configs/inference.json")
    orthogonal = {"observation": "orthogonal", "observation_offsets_mm": "[-8.0,0.0,8.0]"}
    quiet = {"save_overlays": "false", "save_meshes": "false", "save_summary_page": "false"}
    # a model calibrated on full masks is not used on planes without saying so (the CLI's one line: test_settings.py)
    config = bundle_config("inference.json", dataset_dir=str(mixed_folder), **orthogonal)
    refused = str(parsing_error(config, "settings"))
    assert '--observation "orthogonal" contradicts the model' in refused and "calibrate" in refused
    # calibrated in the mode, the model then scores in it by itself, every output on its input's grid
    healthy = tmp_path / "healthy"
    healthy.mkdir()
    for name in ("Y_000", "Y_001", "OH_000"):
        shutil.copy(demo_cohort / "images" / f"{name}.nii.gz", healthy / f"{name}.nii.gz")
    calibration = {"dataset_dir": str(healthy), "source_ckpt": str(SHIPPED_MODEL), "fit_iterations": "40"}
    calibration.update(ckpt_dir=str(tmp_path / "planes"), output_dir=str(tmp_path / "calibration"), **orthogonal)
    files = "['configs/train.json','configs/calibrate.json']"
    calibrated = run_bundle_cli("monai.bundle", "run", "--config_file", files, *cli_overrides(calibration))
    assert calibrated.returncode == 0, calibrated.stderr[-3000:]
    out = tmp_path / "out"
    args = {**quiet, "dataset_dir": str(mixed_folder), "ckpt_path": str(tmp_path / "planes" / "model.pt")}
    result = run_bundle_cli(*infer, *cli_overrides(args, output_dir=str(out), output_ext="auto"))
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads((out / "scores.json").read_text())
    settings = document["model_settings"]
    assert settings["observation"] == "orthogonal" and settings["fit_iterations"] == 40
    assert settings["fit_translation"] is True  # recalibrated with today's fit: the observed part is moved
    assert load_checkpoint(SHIPPED_MODEL)["settings"]["values"].count("fit_translation") == 0  # 0.8.1's file
    assert document["calibration_holds"] is True and document["calibration"]["reference_subjects"] == 3
    shipped, recalibrated = (
        load_checkpoint(path)["latent_table"] for path in (SHIPPED_MODEL, tmp_path / "planes" / "model.pt")
    )
    assert torch.equal(shipped["codes.weight"], recalibrated["codes.weight"])  # the model's own codes, untouched
    for row in document["subjects"]:
        assert 0.05 < row["observed_fraction"] < 0.6 and row["dice"] > 0.8, row  # compared where it was seen
        assert 0 <= row["fit_shift_mm"] < 10, row  # planes 8 mm around the centre: a few mm at most
    for source in sorted(mixed_folder.iterdir()):
        stem, ext = source.name.split(".", 1)
        for kind in ("recon", "anomaly_map"):
            shape, affine = _header(out / f"{stem}_{kind}.{ext}")
            source_shape, source_affine = _header(source)
            assert shape == source_shape and np.allclose(affine, source_affine, atol=1e-4), (stem, kind)
    recon = nib.load(out / "alpha_recon.nii.gz").get_fdata() > 0
    full = nib.load(mixed_folder / "alpha.nii.gz").get_fdata() > 0
    assert 2 * (recon & full).sum() / (recon.sum() + full.sum()) > 0.8  # the whole muscle, from its planes


def test_given_slices_are_read_from_an_observation_file(mixed_folder, tmp_path):
    """A real sparse acquisition: an anisotropic LPS file segmented on four slices only, listed in a file."""
    source = nib.load(mixed_folder / "alpha.nii.gz")
    full = np.asarray(source.dataobj)
    kept = [int(k) for k in np.linspace(full.shape[2] * 0.3, full.shape[2] * 0.7, 4)]
    partial = np.zeros_like(full)
    partial[:, :, kept] = full[:, :, kept]
    path = tmp_path / "sparse.nii.gz"
    nib.save(nib.Nifti1Image(partial, source.affine, source.header), path)
    (tmp_path / "slices.json").write_text(json.dumps({"sparse": {"2": kept}}))
    args = {"input_files": f"['{path}']", "ckpt_path": str(SHIPPED_MODEL)}
    args.update(output_dir=str(tmp_path / "out"), save_overlays="false", save_meshes="false", save_summary_page="false")
    infer = ("monai.bundle", "run", "--config_file", "configs/inference.json")
    config = bundle_config("inference.json", **args, observation_file=str(tmp_path / "slices.json"))
    refused = str(parsing_error(config, "inputs"))
    assert "slices.json: an observation file lists segmented slices, but the observation is 'full'" in refused
    given = {"observation": "given", "observation_file": str(tmp_path / "slices.json"), "fit_iterations": "40"}
    given["allow_uncalibrated"] = "true"  # the shipped model is calibrated on full masks
    result = run_bundle_cli(*infer, *cli_overrides(args, **given))
    assert result.returncode == 0, result.stderr[-3000:]
    row = json.loads((tmp_path / "out" / "scores.json").read_text())["subjects"][0]
    assert 0.0 < row["observed_fraction"] < 0.5 and row["dice"] > 0.5
    recon = nib.load(tmp_path / "out" / "sparse_recon.nii.gz")
    assert recon.shape == full.shape and np.allclose(recon.affine, source.affine, atol=1e-4)
    recon = recon.get_fdata() > 0
    between = [k for k in range(kept[0], kept[-1]) if k not in kept]
    assert recon[:, :, between].any(axis=(0, 1)).all()  # the muscle between the slices is reconstructed
    assert 2 * (recon & (full > 0)).sum() / (recon.sum() + (full > 0).sum()) > 0.7


def test_inference_selects_the_label_of_a_multilabel_file(tmp_path, tiny_model):
    generate_cohort(
        tmp_path / "ml",
        n_young=2,
        n_older=1,
        n_sarcopenic=0,
        num_folds=3,
        spacing=(2.5, 2.5, 2.5),
        multilabel=True,
        muscle_label=2,
        progress=False,
    )
    source = tmp_path / "ml" / "images" / "Y_001.nii.gz"
    args = {
        **FIT,
        "input_files": f"['{source}']",
        "label": "2",
        "ckpt_path": str(tiny_model / "models" / "model.pt"),
        "output_dir": str(tmp_path / "out"),
        # on/off settings as people type them: lowercase words are not Python literals, yet must mean off
        "save_overlays": "false",
        "save_meshes": "off",
        "save_summary_page": "no",
    }
    result = run_bundle_cli("monai.bundle", "run", "--config_file", "configs/inference.json", *cli_overrides(args))
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "out" / "scores.csv") as stream:
        row = next(csv.DictReader(stream))
    muscle = np.asarray(nib.load(source).dataobj) == 2
    assert float(row["volume_input_ml"]) == pytest.approx(muscle.sum() * 2.5**3 / 1000)
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert "Y_001_recon.nii.gz" in written and not {n for n in written if n.endswith((".vtk", ".ply", ".png", ".html"))}

    again = run_bundle_cli(
        "monai.bundle", "run", "--config_file", "configs/inference.json", *cli_overrides({**args, "resume": "false"})
    )
    assert again.returncode == 0 and "already complete" not in again.stdout + again.stderr  # redone, not resumed
    wrong = run_bundle_cli(
        "monai.bundle", "run", "--config_file", "configs/inference.json", *cli_overrides({**args, "resume": "maybe"})
    )
    last_line = wrong.stderr.strip().splitlines()[-1]
    assert wrong.returncode == 1 and "--resume: expected true, false or strict, got 'maybe'" in last_line


def test_shipped_model_on_the_demo_test_cases(demo_cohort, tmp_path):
    """The quality bar of the shipped model on fold 0's test cases (6 healthy, 6 sarcopenic, the first of each in the
    datalist): healthy Dice, AUC of the best score vs volume, labelmaps on the input grid. ``make demo`` and
    ``bench/`` measure the shipped model on every subject."""
    subjects = {s["id"]: s for s in load_datalist(demo_cohort)["subjects"]}
    test = load_datalist(demo_cohort)["folds"][0]["test"]
    chosen = [i for i in test if subjects[i]["healthy"]][:6] + [i for i in test if not subjects[i]["healthy"]][:6]
    out = tmp_path / "demo"
    files = "['" + "','".join(str(demo_cohort / subjects[i]["image"]) for i in chosen) + "']"
    args = {"input_files": files, "output_dir": str(out)}
    args.update(save_overlays="False", save_meshes="False", save_summary_page="False")  # scores and labelmaps
    result = run_bundle_cli("monai.bundle", "run", "--config_file", "configs/inference.json", *cli_overrides(args))
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out / "scores.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert sorted(r["id"] for r in rows) == sorted(chosen)
    healthy = [r for r in rows if subjects[r["id"]]["healthy"]]
    assert len(healthy) == 6 and np.mean([float(r["dice"]) for r in healthy]) >= 0.93
    is_os = [not subjects[r["id"]]["healthy"] for r in rows]
    best = max(
        roc_auc_score(is_os, [float(r[s]) for r in rows]) for s in ("recon_score", "latent_distance", "combined")
    )
    volume = roc_auc_score(is_os, [-float(r["volume_input_ml"]) for r in rows])
    assert best >= 0.9 and best > volume
    for row in rows[:3]:
        shape, affine = _header(demo_cohort / "images" / f"{row['id']}.nii.gz")
        recon = nib.load(out / f"{row['id']}_recon.nii.gz")
        assert recon.shape == shape and np.allclose(recon.affine, affine, atol=1e-5)


def test_a_muscle_far_outside_the_shipped_models_range_is_flagged_apart_from_its_decision(demo_cohort, tmp_path):
    """A 330 mm spindle of about twice the phantoms' volume: whatever its decision, the run says the model does not
    know such a muscle (a measure of its fit beyond the healthy calibration subjects, named in the reasons)."""
    import dataclasses

    from scripts.data.files import write_labelmap
    from scripts.synthetic import phantoms
    from scripts.synthetic.labelmaps import make_labelmap

    shape = phantoms.sample_shape("Y", np.random.default_rng(5), max_rotation_deg=0.0)
    giant = dataclasses.replace(shape, length=330.0, width=1.3 * shape.width, thickness=1.3 * shape.thickness)
    labelmap, muscle, affine = make_labelmap(giant, (1.0, 1.0, 1.0), 8.0, False, 1)
    write_labelmap(labelmap, affine, tmp_path / "giant.nii.gz")
    typical = demo_cohort / "images" / "Y_000.nii.gz"
    args = {"input_files": f"['{tmp_path / 'giant.nii.gz'}','{typical}']", "output_dir": str(tmp_path / "out")}
    args.update(save_overlays="false", save_meshes="false")
    result = run_bundle_cli("monai.bundle", "run", "--config_file", "configs/inference.json", *cli_overrides(args))
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads((tmp_path / "out" / "scores.json").read_text())
    rows = {row["id"]: row for row in document["subjects"]}
    assert muscle.sum() / 1000 > 1.8 * rows["Y_000"]["volume_input_ml"]
    assert rows["giant"]["out_of_distribution"] and "above the healthy range" in rows["giant"]["ood_reasons"]
    assert rows["Y_000"]["out_of_distribution"] is False and rows["Y_000"]["ood_reasons"] == ""
    assert document["summary"]["out_of_distribution"] == 1
    page = (tmp_path / "out" / "report.html").read_text()
    assert "outside what the model knows" in page
