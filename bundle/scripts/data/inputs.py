"""What each workflow reads besides a cohort's datalist: a folder of labelmaps, a list of files, the slices a user
segmented, and the subjects inference and calibration take (a cohort folder's split, or every labelmap of a folder)."""

from __future__ import annotations

import os
from pathlib import Path

from ..layout import IMAGE_SUFFIXES, cohort_datalist, image_stem, safe_id
from .datalist import CALIBRATION, DatalistError, load_split, read_json, validation_items


def list_labelmaps(folder: str | os.PathLike) -> list[dict]:
    """Every entry directly in ``folder`` named like a labelmap, as items ``{"id", "image"}`` sorted by name.

    An entry that only looks like one (a folder called ``x.nii.gz``, a broken link) is listed too, so that the
    workflow reports it among the unusable inputs instead of ignoring it silently. Hidden files are not inputs.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatalistError(f"{folder}: input folder not found")
    paths = [
        p for p in sorted(folder.iterdir()) if p.name.lower().endswith(IMAGE_SUFFIXES) and not p.name.startswith(".")
    ]
    if not paths:
        raise DatalistError(f"{folder}: no labelmap ({', '.join(IMAGE_SUFFIXES)}) found")
    return file_items([str(p) for p in paths])


def file_items(files: list[str]) -> list[dict]:
    """Items for an explicit list of labelmap files; ids from the file names (which must then be unique)."""
    items, seen = [], {}
    for file in files:
        path = Path(file)
        subject_id = safe_id(image_stem(path))
        if subject_id in seen:
            raise DatalistError(f"{path}: subject id {subject_id!r} already used by {seen[subject_id]}")
        seen[subject_id] = path
        items.append({"id": subject_id, "image": str(path.resolve())})
    if not items:
        raise DatalistError("the list of input files is empty")
    return items


def read_observation_file(path: str | os.PathLike) -> dict:
    """Segmented slices per subject, ``{subject id or file name: {axis: [voxel indices]}}``, for ``given`` mode."""
    path = Path(path)
    slices = read_json(path, "observation file")
    if not isinstance(slices, dict) or not slices:
        raise DatalistError(f"{path}: expected {{subject id: {{axis: [slice indices]}}}} with at least one subject")

    def subject(name: str) -> str:  # "Y_000" or "Y_000.nii.gz" name the same subject
        return safe_id(image_stem(Path(name)) if name.lower().endswith(IMAGE_SUFFIXES) else name)

    return {subject(str(name)): spec for name, spec in slices.items()}


def inference_items(
    dataset_dir: str,
    fold: int = 0,
    split: str = "test",
    files: list[str] | None = None,
    observation_file: str | None = None,
    observation: str = "full",
) -> list[dict]:
    """What inference reads: ``files`` if given; else a cohort folder (with ``datalist.json``) gives the fold's
    split, and any other folder all of its labelmaps. ``observation_file`` adds each subject's segmented slices
    (``observed_slices``), which only the ``given`` observation reads: with any other, it is refused.

    Args:
        dataset_dir: a cohort folder (with ``datalist.json``) or a folder of labelmaps; unused with ``files``.
        fold, split: the fold (its index) and split (``"train"``, ``"val"``, ``"test"``) read from a cohort folder.
        files: explicit labelmap files, named by their file names; None reads ``dataset_dir``.
        observation_file: JSON of each subject's segmented slices (``read_observation_file``); None for none.
        observation: the run's observation mode (``data.acquisition.MODES``); ``observation_file`` needs ``"given"``.

    Returns:
        Items ``{"id", "image", ...}``, with ``observed_slices`` for the subjects the observation file lists.

    Raises:
        DatalistError: an observation file with another mode than ``given``, or inputs that cannot be listed
            (``load_split``, ``list_labelmaps``, ``file_items``, ``read_observation_file``).
    """
    if observation_file is not None and observation != "given":
        raise DatalistError(
            f"{observation_file}: an observation file lists segmented slices, but the observation is {observation!r}; "
            "pass --observation given (with a model calibrated for it) or drop --observation_file"
        )
    if files is not None:
        items = file_items(list(files))
    else:
        datalist = Path(cohort_datalist(dataset_dir))
        items = load_split(datalist, fold, split) if datalist.is_file() else list_labelmaps(dataset_dir)
    if observation_file is not None:
        slices = read_observation_file(observation_file)
        items = [dict(item, observed_slices=slices[item["id"]]) if item["id"] in slices else item for item in items]
    return items


def calibration_items(dataset_dir: str, fold: int = 0, abnormal_axis: bool | None = None) -> list[dict]:
    """Subjects to calibrate a trained model on, from any cohort of any size: a cohort folder (with ``datalist.json``)
    gives what validation fits (``validation_items``: the fold's validation subjects, and its training subjects when
    some are labelled abnormal); any other folder, every labelmap in it, all taken as healthy. The model's own codes
    and decoder are not touched, so the cohort need not be the one it was trained on.

    Args:
        dataset_dir: a cohort folder (with ``datalist.json``) or any folder of labelmaps.
        fold: index of the cohort's fold whose subjects are taken; unused for a plain folder.
        abnormal_axis: as in ``datalist.validation_items``; True needs a cohort folder.

    Returns:
        Items with their ``role`` (for a plain folder, all ``healthy`` calibration subjects).

    Raises:
        DatalistError: ``abnormal_axis`` True without a datalist, or inputs that cannot be listed.
    """
    datalist = Path(cohort_datalist(dataset_dir))
    if datalist.is_file():
        return validation_items(datalist, fold, abnormal_axis)
    if abnormal_axis:
        raise DatalistError(f"{dataset_dir}: --abnormal_axis true needs a datalist.json that marks abnormal subjects")
    return [dict(item, healthy=True, role=CALIBRATION) for item in list_labelmaps(dataset_dir)]
