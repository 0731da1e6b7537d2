"""The study's folds with labelled cases: every abnormal subject labels the abnormal axis of all folds but one.

The cohort's folds test every abnormal subject in every fold (their unsupervised scores are averaged over folds). For
the abnormal axis, which learns from labelled cases, each abnormal subject is given one *axis fold* (from its id, so
that it does not depend on the other subjects or their labels) and joins the training split of every other fold as a
labelled case (``healthy: false``): its own axis fold never saw its label, and only there is its ``axis_score`` used.
The study writes this datalist into its own folder, with absolute image paths, for training; scoring reads the cohort.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

from ..data.datalist import is_healthy
from ..data.files import write_json


def axis_fold(subject_id: str, num_folds: int) -> int:
    """The one fold whose abnormal axis never learns from this subject's label."""
    return zlib.crc32(str(subject_id).encode()) % num_folds


def labelled_datalist(datalist: dict, dataset_dir: Path) -> dict:
    """The cohort's datalist with absolute image paths and each fold's training split extended by the abnormal
    subjects whose axis fold is another."""
    subjects = [dict(s, image=str((Path(dataset_dir) / s["image"]).resolve())) for s in datalist["subjects"]]
    folds = []
    for k, split in enumerate(datalist["folds"]):
        labelled = [s["id"] for s in subjects if not is_healthy(s) and axis_fold(s["id"], len(datalist["folds"])) != k]
        folds.append({**split, "train": list(split["train"]) + [i for i in labelled if i not in split["train"]]})
    return {**datalist, "subjects": subjects, "folds": folds}


def write_labelled_datalist(dataset_dir: Path, path: Path) -> Path:
    """``labelled_datalist`` of the cohort in ``dataset_dir``, written to ``path`` (rewritten only if it changed)."""
    from ..layout import cohort_datalist

    datalist = labelled_datalist(json.loads(Path(cohort_datalist(dataset_dir)).read_text()), dataset_dir)
    if not (path.is_file() and json.loads(path.read_text()) == datalist):
        write_json(datalist, path)
    return path


def axis_held_out(subject_id: str, healthy: bool, cv_fold: int, num_folds: int) -> bool:
    """Whether the fold ``cv_fold`` scored this subject with an axis its own label did not help build."""
    return bool(healthy) or axis_fold(subject_id, num_folds) == int(cv_fold)
