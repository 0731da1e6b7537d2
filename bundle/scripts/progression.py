"""Two visits of one subject: what changed, where, and whether beyond the test-retest noise.

``python -m scripts progression`` (or ``configs/progression.json``) scores every visit of the pairs as inference does
(``configs/inference.json``: each visit in the muscle's own frame, whatever its position and resolution), then per pair
writes the change of each score, the fitted code's displacement (in healthy spreads, and along the abnormal axis when
the model has one), a per-vertex change map between the two visits' masks, rigidly aligned (VTK and PLY in the first
visit's space, a PNG of two views, and a 3D view on ``progression.html``), and the decision "changed beyond test-retest
noise" from the model's change calibration (``change_calibration``: ``--calibrate_change`` learns it from stable pairs
of healthy subjects).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import nibabel as nib
import numpy as np

from .checkpoints import load_checkpoint
from .data.files import write_csv, write_json
from .data.visits import VisitPair, datalist_pairs, file_pairs
from .errors import InputError
from .layout import SubjectFiles, cohort_datalist, safe_id
from .scoring.change import CODE_KEYS, ChangeMap, change_map, change_summary, code_displacement, score_changes
from .scoring.reference import HealthyReference
from .scoring.reliability import ChangeCalibration
from .scoring.scores import SCORES
from .study.workflows import run_workflow
from .transforms.outputs import scored_input
from .visualize.change import change_figure
from .visualize.meshes import write_ply, write_vtk
from .visualize.progression_page import pair_view, write_progression_page
from .visualize.views3d import DISPLAY_STEP

logger = logging.getLogger(__name__)

CHANGE_NAMES = (*SCORES, "volume_input_ml")  # every score a visit carries, and its volume
# what the visits' scoring writes unless told otherwise: scores, codes and labelmaps (as .nii.gz), nothing to look at
QUIET = {
    "save_overlays": False,
    "save_meshes": False,
    "save_summary_page": False,
    "mlflow_tracking": False,
    "output_ext": ".nii.gz",
}
PAGE_VIEWS = 40  # change maps drawn on progression.html (every pair has its meshes and PNG)
MAP_THRESHOLD_MM = 1.0  # a vertex "changed" in the map's summary beyond this
EMPTY_MAP = dict.fromkeys(change_summary(np.zeros(1), MAP_THRESHOLD_MM), float("nan"))  # no map: its numbers unknown


def read_pairs(dataset_dir: str | None, pairs: list | None) -> list[VisitPair]:
    if (dataset_dir is None) == (pairs is None):
        raise InputError("progression: give either --dataset_dir (a datalist with visits) or --pairs, not both")
    return datalist_pairs(cohort_datalist(dataset_dir)) if dataset_dir is not None else file_pairs(pairs)


def visit_files(visits_dir: Path, overrides: dict) -> SubjectFiles:
    """Where the visits' scoring (``score_visits`` with ``overrides``) writes each visit's files."""
    return SubjectFiles(visits_dir, {**QUIET, **overrides}["output_ext"])


def score_visits(pairs: list[VisitPair], ckpt_path: str, visits_dir: Path, **overrides) -> None:
    """Every visit of ``pairs`` scored once by ``configs/inference.json`` into ``visits_dir``. The workflow runs in the
    bundle's folder: the one place that hands it paths makes them absolute (visits' images are, where they are read)."""
    items = {pair.first["id"]: pair.first for pair in pairs} | {pair.second["id"]: pair.second for pair in pairs}
    inputs = [{"id": safe_id(str(i)), "image": item["image"]} for i, item in items.items()]
    where = {"ckpt_path": str(Path(ckpt_path).resolve()), "output_dir": str(Path(visits_dir).resolve())}
    settings = {**QUIET, **overrides, "inputs": inputs, **where}
    run_workflow(["inference.json"], "infer", **settings)


def scored_pairs(pairs: list[VisitPair], files: SubjectFiles) -> tuple[list[VisitPair], list[str]]:
    """The pairs both of whose visits were scored, and the files of the visits that were not (missing, unreadable or
    unusable: the scoring's warnings say why)."""
    unscored = {
        str(v["id"]): v["image"] for p in pairs for v in (p.first, p.second) if not files.scores(str(v["id"])).is_file()
    }
    kept = [p for p in pairs if str(p.first["id"]) not in unscored and str(p.second["id"]) not in unscored]
    return kept, sorted(unscored.values())


def some_files(files: list[str], shown: int = 2) -> str:
    """The first ``shown`` files, for a one-line message."""
    return ", ".join(files[:shown]) + (", ..." if len(files) > shown else "")


def pair_changes(pair: VisitPair, files: SubjectFiles, reference: HealthyReference) -> dict:
    """The pair's row: the change of every score and of the volume, the code's displacement, both decisions."""
    first, second = (json.loads(files.scores(str(v["id"])).read_text()) for v in (pair.first, pair.second))
    changes = {f"{k}_change": v for k, v in score_changes(first, second, CHANGE_NAMES).items()}
    row = {"subject": pair.subject, "first": first["id"], "second": second["id"], **changes}
    row.update(code_displacement(reference, *(np.load(files.code(str(v["id"]))) for v in (pair.first, pair.second))))
    row["first_decision"], row["second_decision"] = first.get("decision"), second.get("decision")
    return row


def pair_map(pair: VisitPair, files: SubjectFiles) -> ChangeMap | None:
    """The change map between the two scored masks, rigidly aligned, on the first visit's surface in its own space;
    None when a visit's mask is empty."""
    masks, affines = [], []
    for visit in (pair.first, pair.second):
        recon, anomaly = (
            nib.load(files.labelmap(str(visit["id"]), k, visit["image"])) for k in ("recon", "anomaly_map")
        )
        masks.append(scored_input(np.asarray(recon.dataobj), np.asarray(anomaly.dataobj)))
        affines.append(recon.affine)
    if not all(mask.any() for mask in masks):  # nothing left of a visit after label selection: no map to draw
        logger.warning("%s: a visit's mask is empty; no change map", pair.subject)
        return None
    return change_map(masks[0], affines[0], masks[1], affines[1])


def changes_of(row: dict) -> dict[str, float]:
    names = [k for k in row if k.endswith("_change") and k != "axis_change"] + [k for k in CODE_KEYS if k in row]
    return {name: row[name] for name in names}


def calibrated_model(ckpt_path: str) -> tuple[dict, HealthyReference]:
    state = load_checkpoint(ckpt_path, map_location="cpu")
    if "reference" not in state:
        raise InputError(f"{ckpt_path}: not a calibrated model of this bundle (no healthy reference)")
    reference = HealthyReference()
    reference.load_state_dict(state["reference"])
    return state, reference


def run_progression(
    ckpt_path: str,
    output_dir: str,
    dataset_dir: str | None = None,
    pairs: list | None = None,
    change_score: str = "combined_change",
    level: float | None = None,
    **overrides,
) -> Path:
    """Score the pairs' visits and write ``progression.csv``/``.json`` and each pair's change meshes; returns the
    JSON's path. Refuses, before scoring anything, a model without a change calibration.

    Args:
        ckpt_path: a model file with a change calibration (``calibrate_change``).
        output_dir: where the visits' scores (``visits/``), the pairs' table and the change meshes are written.
        dataset_dir: a folder whose datalist pairs visits (``data.visits.datalist_pairs``); or None with ``pairs``.
        pairs: two files per pair (``data.visits.file_pairs``); or None with ``dataset_dir``.
        change_score: the change that decides (a key of the calibration, such as ``combined_change``).
        level: the decision's level; None: the model's calibration level.
        overrides: config ids applied to the scoring of the visits (``configs/inference.json``).

    Raises:
        InputError: no change calibration, an uncalibrated ``change_score``, both or neither of the inputs, no pair
            with both visits scored (a pair with a visit that could not be scored is left out, with a warning).
    """
    state, reference = calibrated_model(ckpt_path)
    if "change_calibration" not in state:
        raise InputError(
            f"{ckpt_path}: this model has no change calibration; learn one from stable pairs of healthy subjects "
            "with python -m scripts progression --calibrate_change ..."
        )
    calibration = ChangeCalibration()
    calibration.load_state_dict(state["change_calibration"])
    if change_score not in calibration.sd:
        raise InputError(f"--change_score {change_score}: not calibrated; one of {', '.join(sorted(calibration.sd))}")
    level = reference.level if level is None else float(level)
    found, out = read_pairs(dataset_dir, pairs), Path(output_dir)
    score_visits(found, ckpt_path, out / "visits", **overrides)
    files, rows, views = visit_files(out / "visits", overrides), [], []
    kept, unscored = scored_pairs(found, files)
    if not kept:
        raise InputError(f"progression: no pair has both visits scored ({some_files(unscored)})")
    for image in unscored:  # inference's skip_invalid: the others are still compared
        logger.warning("progression: %s was not scored; its pairs are left out", image)
    for pair in kept:
        row = pair_changes(pair, files, reference)
        row.update(calibration.judge(changes_of(row), change_score, level))
        mapped = pair_map(pair, files)
        row.update(change_summary(mapped.change, MAP_THRESHOLD_MM) if mapped is not None else EMPTY_MAP)
        row["alignment_deg"] = mapped.alignment.angle_deg if mapped is not None else float("nan")
        stem = safe_id(f"{pair.subject}_{row['first']}_to_{row['second']}")
        if mapped is not None:
            write_vtk(out / f"{stem}_change.vtk", mapped.surface, {"change_mm": mapped.change})
            write_ply(out / f"{stem}_change.ply", mapped.surface, mapped.change)
            shown = mapped.lighter(DISPLAY_STEP)  # what is drawn (PNG, page): the files keep full resolution
            change_figure(*shown, f"{pair.subject}: {row['first']} to {row['second']}", out / f"{stem}_change.png")
            if len(views) < PAGE_VIEWS:
                views.append(pair_view(row, *shown, change_score))
        rows.append(row)
        logger.info("%s: %s beyond test-retest noise", stem, "changed" if row["changed"] else "no change")
    write_csv(rows, out / "progression.csv")
    document = {
        "change_score": change_score,
        "level": level,
        "stable_pairs": calibration.pairs,
        "reliability": calibration.reliability,
        "pairs": rows,
    }
    write_progression_page(out / "progression.html", rows, views, document)
    return write_json(document, out / "progression.json")
