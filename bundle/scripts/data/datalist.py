"""Which files a workflow reads: a fold's split of a cohort datalist, or every labelmap in a folder."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from ..errors import InputError
from ..layout import safe_id

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
CALIBRATION, AXIS = "calibration", "axis"  # what a subject fitted in validation or calibration is for (its ``role``)
MIN_CASES = 2  # labelled abnormal subjects an abnormal axis needs (``scoring.axis``)
MIN_HEALTHY = 3  # healthy subjects fitted beside them: a mean and a spread along the axis


class DatalistError(InputError):
    """A datalist that cannot be used; the message names the file."""


def read_json(path: Path, what: str):
    """The JSON document in ``path``, or one line naming the file when it is missing or not JSON."""
    if not path.is_file():
        raise DatalistError(f"{path}: {what} not found")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DatalistError(f"{path}: not valid JSON ({error})") from None


def read_datalist(path: str | os.PathLike) -> dict:
    path = Path(path)
    datalist = read_json(path, "datalist")
    if not isinstance(datalist, dict) or not all(isinstance(datalist.get(key), list) for key in ("subjects", "folds")):
        raise DatalistError(f"{path}: expected 'subjects' and 'folds' lists (see scripts/synthetic/cohort.py)")
    return datalist


def is_healthy(item) -> bool:
    """A subject's ``healthy`` flag (true unless the datalist marks it false; "false" as text counts too)."""
    value = item.get("healthy", True)
    return value.strip().lower() == "true" if isinstance(value, str) else bool(value)


def load_split(
    datalist_path: str | os.PathLike,
    fold: int,
    split: str,
    dataset_dir: str | None = None,
    healthy_only: bool = False,
) -> list[dict]:
    """Items ``{"id", "image", "group", "healthy", "fold"}`` of ``split`` in ``fold``, with absolute image paths;
    with ``healthy_only``, the subjects marked abnormal (``healthy: false``) are left out.

    ``fold`` is -1 for subjects that belong to no fold (those always tested).

    Training items also get ``case_index``, their row in the latent table. Images are relative to ``dataset_dir``
    (default: the datalist's folder). Duplicate ids and missing files are reported all at once.

    Args:
        datalist_path: the cohort's ``datalist.json`` (``subjects`` and ``folds`` lists).
        fold: index of the fold in the datalist's ``folds``.
        split: ``"train"``, ``"val"`` or ``"test"`` (``SPLITS``).
        dataset_dir: folder the image paths are relative to; None for the datalist's folder.
        healthy_only: leave out the subjects marked abnormal (``healthy: false``).

    Returns:
        The split's items, in the order the fold lists them.

    Raises:
        ValueError: ``split`` is not one of ``SPLITS``, or a subject id has no usable character.
        DatalistError: the datalist is missing or malformed, the fold or a listed subject does not exist, an id
            appears twice, or images are missing.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    datalist = read_datalist(datalist_path)
    folds = datalist["folds"]
    if not 0 <= int(fold) < len(folds):
        raise DatalistError(f"{datalist_path}: fold {fold} does not exist (folds 0..{len(folds) - 1})")
    base = Path(dataset_dir) if dataset_dir else Path(datalist_path).parent
    subjects: dict[str, dict] = {}
    for subject in datalist["subjects"]:
        if subject["id"] in subjects:
            raise DatalistError(f"{datalist_path}: subject id {subject['id']!r} appears more than once")
        subjects[subject["id"]] = subject
    items, missing = [], []
    for subject_id in folds[int(fold)][split]:
        if subject_id not in subjects:
            raise DatalistError(f"{datalist_path}: fold {fold} lists unknown subject {subject_id!r}")
        subject = dict(subjects[subject_id], id=safe_id(subject_id))
        if subject.get("fold") is None:  # never a healthy test fold (e.g. sarcopenic); None does not collate
            subject["fold"] = -1
        subject["image"] = str((base / subject["image"]).resolve())
        missing += [subject["image"]] if not Path(subject["image"]).is_file() else []
        items.append(subject)
    if missing:
        raise DatalistError(f"{datalist_path}: {len(missing)} image(s) not found: {', '.join(missing[:5])}")
    if healthy_only:
        items = [item for item in items if is_healthy(item)]
    if split == "train":
        for index, item in enumerate(items):
            item["case_index"] = index
    return items


def validation_items(datalist_path: str | os.PathLike, fold: int, abnormal_axis: bool | None = None) -> list[dict]:
    """What validation fits like new subjects: the fold's validation subjects (healthy: they calibrate the healthy
    reference) and, when the fold's training split lists subjects marked abnormal, every training subject (the two
    sides of the abnormal axis: ``axis.AbnormalAxis``). Each item says which it is for (``role``).

    ``abnormal_axis``: None learns the axis when the training split labels at least ``MIN_CASES`` subjects
    abnormal; True requires it (fewer is refused in one line naming the datalist); False never learns one.

    Args:
        datalist_path: the cohort's ``datalist.json``.
        fold: index of the fold whose validation (and training) subjects are fitted.
        abnormal_axis: whether to add the training subjects for the abnormal axis (None, True or False: see above).

    Returns:
        The validation items (``role`` "calibration"), then, for an axis, every training item (``role`` "axis").

    Raises:
        DatalistError: the val split lists a subject marked abnormal, ``abnormal_axis`` is True with fewer than
            ``MIN_CASES`` labelled subjects, or ``load_split`` refuses the datalist.
    """
    calibration = [dict(item, role=CALIBRATION) for item in load_split(datalist_path, fold, "val")]
    unhealthy = [item["id"] for item in calibration if not is_healthy(item)]
    if unhealthy:
        raise DatalistError(
            f"{datalist_path}: fold {fold}'s val split lists {', '.join(unhealthy[:3])} marked abnormal; validation "
            "subjects calibrate the healthy reference (labelled abnormal subjects belong in the train split)"
        )
    train = load_split(datalist_path, fold, "train")
    cases = sum(not is_healthy(item) for item in train)
    healthy = len(calibration) + sum(is_healthy(item) for item in train)
    if abnormal_axis and (cases < MIN_CASES or healthy < MIN_HEALTHY):
        raise DatalistError(
            f"{datalist_path}: --abnormal_axis true needs at least {MIN_CASES} subjects marked abnormal "
            f"(healthy: false) and {MIN_HEALTHY} healthy ones in fold {fold}'s train and val splits; it lists {cases} "
            f"and {healthy}"
        )
    if abnormal_axis is False or cases < MIN_CASES:
        return calibration
    if healthy < MIN_HEALTHY:
        logger.warning(
            "%s: no abnormal axis for fold %d: %d labelled cases but %d healthy subjects (at least %d needed)",
            datalist_path, fold, cases, healthy, MIN_HEALTHY,
        )  # fmt: skip
        return calibration
    return calibration + [{k: v for k, v in item.items() if k != "case_index"} | {"role": AXIS} for item in train]
