"""The runs behind ``families.py``: one user's cohort, a model trained on it, and test subjects of every disease family.

A *family benchmark* (one condition, one generator seed) lives in one folder with one datalist of one fold:

- the user's cohort: 48 healthy subjects (24 Y, 24 OH) drawn with ``seed``; 38 train and 10 validate, as in
  ``power_runs`` (the model is trained with the configs' defaults);
- the test subjects, drawn with ``seed + 1000``: 100 healthy (50 Y, 50 OH), the same for every family, and 100
  sarcopenic subjects of each family in ``synthetic.shape.DISEASES`` (ids ``<family>_OS_<n>``);
- labelled cases for the abnormal axis, drawn with ``seed + 2000``: ``LABELLED`` sarcopenic subjects per family.

Every test subject, every labelled case and the user's 48 healthy subjects are fitted by the model like new subjects
(the axis is learned from fitted codes, as training learns it) through the bundle's inference config; the baselines
and twins (``study.baselines.score_fold``) are fitted on the user's 48 healthy subjects. Everything done is reused.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from common import write_one_fold_datalist

TEST_SEED_OFFSET, LABELLED_SEED_OFFSET = 1000, 2000
USER = {"n_young": 24, "n_older": 24, "n_sarcopenic": 0}
TEST_HEALTHY = {"n_young": 50, "n_older": 50}
ABNORMAL, LABELLED = 100, 8
VALIDATION_PER_GROUP = 5


def _draw(folder: Path, seed: int, counts: dict, generator: dict, disease: str = "flattening") -> list[dict]:
    from scripts.layout import cohort_datalist
    from scripts.synthetic.cohort import generate_cohort

    if not Path(cohort_datalist(folder)).is_file():
        generate_cohort(folder, seed=seed, progress=False, disease=disease, **counts, **generator)
    return json.loads(Path(cohort_datalist(folder)).read_text())["subjects"]


def family_cohort(folder: Path, seed: int, generator: dict, families: tuple[str, ...]) -> Path:
    """Generate the benchmark (module docstring) in ``folder`` and write its one-fold datalist."""
    from scripts.layout import cohort_datalist

    datalist_path = Path(cohort_datalist(folder))
    if datalist_path.is_file():
        return folder
    subjects, split = [], {"train": [], "val": [], "test": []}

    def add(part: str, subject: dict, role: str, disease: str = "") -> None:
        entry = dict(subject, id=f"{part}_{subject['id']}", image=f"{part}/{subject['image']}", fold=None)
        subjects.append(dict(entry, disease=disease, role=role))
        if role in split:
            split[role].append(entry["id"])

    for subject in _draw(folder / "user", seed, USER, generator):
        validating = int(subject["id"].split("_")[-1]) < VALIDATION_PER_GROUP
        add("user", subject, "val" if validating else "train")
    test_seed, labelled_seed = seed + TEST_SEED_OFFSET, seed + LABELLED_SEED_OFFSET
    for subject in _draw(folder / "healthy", test_seed, {**TEST_HEALTHY, "n_sarcopenic": 0}, generator):
        add("healthy", subject, "test")
    few = {"n_young": 2, "n_older": 1, "num_folds": 3}  # the generator's folds need healthy subjects; unused
    for family in families:
        drawn = _draw(folder / family, test_seed, {**few, "n_sarcopenic": ABNORMAL}, generator, family)
        for subject in (s for s in drawn if not s["healthy"]):
            add(family, subject, "test", family)
        cases = {**few, "n_sarcopenic": LABELLED}
        drawn = _draw(folder / f"labelled_{family}", labelled_seed, cases, generator, family)
        for subject in (s for s in drawn if not s["healthy"]):
            add(f"labelled_{family}", subject, "labelled", family)
    drawn_with = {"seed": seed, "test_seed": test_seed, "labelled_seed": labelled_seed, **generator}
    write_one_fold_datalist(datalist_path, f"disease-family benchmark, seed {seed}", drawn_with, subjects, split)
    return folder


def subjects_of(dataset: Path, role: str, families: tuple[str, ...] | None = None) -> list[dict]:
    """The benchmark's subjects of ``role``; with ``families``, the healthy ones and those of these families only (a
    benchmark drawn with more families is reported on fewer without scoring the others)."""
    from scripts.layout import cohort_datalist

    subjects = json.loads(Path(cohort_datalist(dataset)).read_text())["subjects"]
    kept = [s for s in subjects if s["role"] == role and (families is None or s["disease"] in ("", *families))]
    return [dict(s, image=str(dataset / s["image"])) for s in kept]


def score_part(model: Path, out: Path, items: list[dict]) -> pd.DataFrame:
    """``items`` (one part of the benchmark: their file names are unique) scored by ``model`` through inference.json,
    scores and codes only, as a table with the benchmark's ids and a ``code`` column (reused when done)."""
    import numpy as np

    from scripts.layout import scores_document
    from scripts.study.workflows import run_workflow

    if not Path(scores_document(out)).is_file():
        files = [item["image"] for item in items]
        quiet = {"save_overlays": False, "save_meshes": False, "save_summary_page": False, "mlflow_tracking": False}
        run_workflow(["inference.json"], "infer", ckpt_path=str(model), input_files=files, output_dir=str(out), **quiet)
    table = pd.DataFrame(json.loads(Path(scores_document(out)).read_text())["subjects"])
    codes = {i: np.load(out / f"{i}_code.npy") for i in table["id"]}
    by_file = {Path(item["image"]).name.split(".")[0]: item for item in items}
    table["code"] = [codes[i] for i in table["id"]]
    for key in ("disease", "healthy", "group"):  # what the datalist says of each file
        table[key] = [by_file[i][key] for i in table["id"]]
    table["id"] = [by_file[i]["id"] for i in table["id"]]
    return table


def scored(dataset: Path, model: Path, out: Path, roles: tuple[str, ...], families: tuple[str, ...]) -> pd.DataFrame:
    """Every subject of ``roles`` (healthy or of ``families``) scored by ``model``, part by part (``score_part``), in
    one table with its role."""
    items = [dict(item, role=role) for role in roles for item in subjects_of(dataset, role, families)]
    tables = []
    for part in dict.fromkeys(item["id"].rsplit("_", 2)[0] for item in items):
        members = [item for item in items if item["id"].rsplit("_", 2)[0] == part]
        roles_of = {item["id"]: item["role"] for item in members}
        table = score_part(model, out / part, members)
        tables.append(table.assign(role=[roles_of[i] for i in table["id"]]))
    return pd.concat(tables, ignore_index=True)


def baselines(dataset: Path, cache: Path, families: tuple[str, ...]) -> pd.DataFrame:
    """Volume, voxel-PCA, flatness, the signed-distance shape model and the twins of every test subject, fitted on the
    user's 48 healthy subjects, and ``ssm_axis_score_<family>``: each on the axis of the shape model's coefficients
    learned from the family's labelled cases (the twin of the INR's abnormal axis). Reused when cached."""
    if cache.is_file():
        return pd.read_csv(cache)
    from scripts.study.baselines import aligned_mask, score_fold
    from scripts.study.shape_model import ShapeModel
    from scripts.study.twins import coefficient_axis, fields_of, ssm_axis_score

    aligned: dict = {}
    healthy, test = subjects_of(dataset, "train") + subjects_of(dataset, "val"), subjects_of(dataset, "test", families)
    table = pd.DataFrame(score_fold(healthy, test, aligned=aligned))
    user = [aligned[item["image"]].subject for item in healthy]
    tested = [aligned[item["image"]].subject for item in test]
    model = ShapeModel().fit(fields_of(user))  # the shape model score_fold's twins use
    for family in families:
        cases = [aligned_mask(s["image"]).subject for s in subjects_of(dataset, "labelled", (family,))]
        table[f"ssm_axis_score_{family}"] = ssm_axis_score(coefficient_axis(model, user, cases), model, tested)
    table.to_csv(cache, index=False)
    return table
