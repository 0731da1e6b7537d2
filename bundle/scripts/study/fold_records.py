"""What each fold of a study was run with, so that a rerun never keeps a fold made otherwise and a report never mixes.

A fold's record (``fold<k>/fold.json``, written once its scores are) holds the bundle's version, the study's settings
(every config id it overrides) and the cohort: its labelled datalist and the digest of every image. A rerun of the
study skips a fold only when its record matches the rerun's; otherwise the fold's workflows run again, and they reuse
what still holds (``records``: training resumes only the same run, scoring rescores what another model made). The
report refuses folds whose records differ, naming the first difference.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..data.files import write_json
from ..errors import InputError
from ..layout import StudyLayout
from ..records import differences, file_digest
from ..settings import bundle_version

RECORD_FILE = "fold.json"
UNRECORDED = ("tracking_uri", "run_name", "experiment_name")  # where a fold is tracked, not what it is


class StudyMixError(InputError):
    """Folds of one study folder run with different settings or cohorts."""


def fold_record(labelled_datalist: Path, settings: dict) -> dict:
    """The record of a fold run now: bundle version, settings, the labelled datalist and its images' digests."""
    datalist = json.loads(Path(labelled_datalist).read_text())
    images = {s["id"]: file_digest(s["image"]) for s in datalist["subjects"]}
    kept = {k: v for k, v in settings.items() if k not in UNRECORDED}
    return {
        "bundle": bundle_version(),
        "settings": json.loads(json.dumps(kept, default=str)),
        "folds": datalist["folds"],
        "images": images,
    }


def record_path(layout: StudyLayout, fold: int) -> Path:
    return layout.fold_dir(fold) / RECORD_FILE


def write_fold_record(layout: StudyLayout, fold: int, record: dict) -> None:
    write_json(record, record_path(layout, fold))


def recorded(layout: StudyLayout, fold: int) -> dict | None:
    path = record_path(layout, fold)
    return json.loads(path.read_text()) if path.is_file() else None


def fold_differences(layout: StudyLayout, fold: int, record: dict) -> list[str]:
    """Why the fold's scores are not those a run with ``record`` would make ([] when they are)."""
    if not layout.scored(fold):
        return ["not scored"]
    stored = recorded(layout, fold)
    if stored is None:
        return ["its scores record no settings (written by an earlier version)"]
    return _summarised(differences(stored, record))


def _summarised(found: list[str]) -> list[str]:
    """Differences with the images collapsed into one line (a regenerated cohort changes every digest)."""
    images = [f for f in found if f.startswith("images.")]
    rest = [f for f in found if not f.startswith("images.")]
    return rest + ([f"{len(images)} image(s) differ ({images[0].split()[0][7:]} ...)"] if images else [])


def check_one_study(layout: StudyLayout, folds: list[int]) -> None:
    """Refuse (one line) to report folds whose records differ from each other's."""
    records = {fold: recorded(layout, fold) for fold in folds}
    first = folds[0]
    for fold in folds[1:]:
        if records[first] is None and records[fold] is None:
            continue
        found = ["one of them records no settings"] if None in (records[first], records[fold]) else []
        found = found or _summarised(differences(records[first], records[fold]))
        if found:
            reasons = "; ".join(found[:3])
            raise StudyMixError(
                f"{record_path(layout, fold)}: fold {fold} was run otherwise than fold {first} ({reasons}); run the "
                "study again with one set of settings, or report the folds into separate folders"
            )
