"""The runs behind ``detection_power.py``: cohorts a user would have, models trained on them, test cohorts scored.

A *benchmark cohort* (one kind of cohort, one generator seed) is two draws of the generator:

- the user's cohort: 48 healthy subjects (24 Y, 24 OH) drawn with ``seed``; 38 train and 10 validate (the first
  5 of each group: checkpoint choice and calibration), as a user with about the demo's size would train;
- an independent test cohort drawn with ``seed + TEST_SEED_OFFSET``: 100 healthy (50 Y, 50 OH) and 100 sarcopenic.

Both live in one folder with one datalist of one fold (``train``, ``val``, ``test``), so that the bundle's own configs
train and score them unchanged. Ensemble members are models trained with the configs' defaults and seeds 0, 1, ...;
each member is scored on the test subjects, and so are ensembles of the first K members (assembled and calibrated on the
validation subjects by the bundle). Everything already done in the work folder is reused.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from common import write_one_fold_datalist

QUIET = {"save_overlays": False, "save_meshes": False, "save_summary_page": False, "group_report": False}
TEST_SEED_OFFSET = 1000
USER_COUNTS = {"n_young": 24, "n_older": 24, "n_sarcopenic": 0}
TEST_COUNTS = {"n_young": 50, "n_older": 50, "n_sarcopenic": 100}
VALIDATION_PER_GROUP = 5


def benchmark_cohort(folder: Path, seed: int, generator: dict) -> Path:
    """Generate the user's and the test cohort (see the module docstring) and their one-fold datalist."""
    from scripts.layout import cohort_datalist
    from scripts.synthetic.cohort import generate_cohort

    datalist_path = Path(cohort_datalist(folder))
    if datalist_path.is_file():
        return folder
    parts = {"user": (seed, USER_COUNTS), "test": (seed + TEST_SEED_OFFSET, TEST_COUNTS)}
    subjects, split = [], {"train": [], "val": [], "test": []}
    for part, (part_seed, counts) in parts.items():
        source = json.loads(
            generate_cohort(folder / part, seed=part_seed, progress=False, **counts, **generator).read_text()
        )
        for subject in source["subjects"]:
            entry = dict(subject, id=f"{part}_{subject['id']}", image=f"{part}/{subject['image']}", fold=None)
            subjects.append(entry)
            if part == "test":
                split["test"].append(entry["id"])
            else:
                validating = int(subject["id"].split("_")[-1]) < VALIDATION_PER_GROUP
                split["val" if validating else "train"].append(entry["id"])
    drawn_with = {"seed": seed, "test_seed": seed + TEST_SEED_OFFSET, **generator}
    write_one_fold_datalist(datalist_path, f"detection benchmark cohort, seed {seed}", drawn_with, subjects, split)
    return folder


def member_dir(run_dir: Path, member: int) -> Path:
    return run_dir / f"member{member}"


def train_member(dataset: Path, run_dir: Path, member: int, overrides: dict | None = None) -> float:
    """Train ensemble member ``member`` (seed ``member``) with the configs' defaults; seconds spent (0 if done)."""
    from scripts.layout import model_file, tracking_db
    from scripts.study.workflows import run_workflow
    from scripts.tracking import sqlite_tracking_uri

    folder = member_dir(run_dir, member)
    if Path(model_file(folder / "models")).is_file() and (folder / "models" / "model_final.pt").is_file():
        return 0.0
    start = time.perf_counter()
    run_workflow(
        ["train.json"],
        "train",
        dataset_dir=str(dataset),
        fold=0,
        seed=member,
        ckpt_dir=str(folder / "models"),
        output_dir=str(folder),
        tracking_uri=sqlite_tracking_uri(tracking_db(run_dir)),
        **(overrides or {}),
    )
    return time.perf_counter() - start


def score_member(dataset: Path, model: Path, out: Path, split: str = "test", overrides: dict | None = None) -> dict:
    """Score ``split`` of the benchmark cohort with ``model`` (inference + evaluate configs); seconds per subject."""
    from scripts.layout import scores_document, tracking_db
    from scripts.study.workflows import run_workflow
    from scripts.tracking import sqlite_tracking_uri

    timing = out / "timing.json"
    if Path(scores_document(out)).is_file() and timing.is_file():
        return json.loads(timing.read_text())
    start = time.perf_counter()
    run_workflow(
        ["inference.json", "evaluate.json"],
        "infer",
        dataset_dir=str(dataset),
        fold=0,
        split=split,
        ckpt_path=str(model),
        scores_dir=str(out),
        output_dir=str(out),
        tracking_uri=sqlite_tracking_uri(tracking_db(out)),
        **QUIET,
        **(overrides or {}),
    )
    subjects = len(json.loads(Path(scores_document(out)).read_text())["subjects"])
    record = {"seconds": time.perf_counter() - start, "subjects": subjects}
    record["seconds_per_subject"] = record["seconds"] / max(subjects, 1)
    timing.write_text(json.dumps(record))
    return record


def recalibrate_member(dataset: Path, source_model: Path, out_models: Path, overrides: dict) -> None:
    """A copy of ``source_model`` recalibrated on the validation subjects with other fit settings (calibrate.json)."""
    from scripts.layout import model_file, tracking_db
    from scripts.study.workflows import run_workflow
    from scripts.tracking import sqlite_tracking_uri

    if Path(model_file(out_models)).is_file():
        return
    run_workflow(
        ["train.json", "calibrate.json"],
        "train",
        dataset_dir=str(dataset),
        fold=0,
        source_ckpt=str(source_model),
        ckpt_dir=str(out_models),
        output_dir=str(out_models.parent),
        tracking_uri=sqlite_tracking_uri(tracking_db(out_models.parent)),
        **overrides,
    )


def build_member_ensemble(dataset: Path, run_dir: Path, size: int) -> Path:
    """The ensemble of members 0 .. size-1, assembled and calibrated on the validation subjects (``python -m scripts
    ensemble``); its model file."""
    from scripts.assemble import build_ensemble

    model = run_dir / f"ensemble{size}" / "models" / "model.pt"
    if not model.is_file():
        members = [str(member_dir(run_dir, m) / "models" / "model.pt") for m in range(size)]
        build_ensemble(members, str(dataset), str(model.parent), fold=0)
    return model
