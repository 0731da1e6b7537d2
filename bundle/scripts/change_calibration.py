"""Learning the test-retest noise of every score from stable pairs of healthy subjects, into the model file.

``python -m scripts progression --calibrate_change`` scores both visits of each stable pair as inference does, then
keeps in the model (``change_calibration``) the spread of each score's change, which decides later pairs
(``progression.run_progression``), and the scores' reliability on these pairs (ICC(3,1), within-subject SD, MDC95),
which the user reads in ``reliability.csv`` beside the visits' scores and in every ``progression.json`` made with the
model: how far a score moves on the user's own scanner and raters when nothing changed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from .data.datalist import DatalistError
from .data.files import atomic_path, write_csv
from .errors import InputError
from .progression import (
    CHANGE_NAMES,
    calibrated_model,
    changes_of,
    pair_changes,
    read_pairs,
    score_visits,
    scored_pairs,
    some_files,
    visit_files,
)
from .scoring.reliability import ChangeCalibration, reliability_table

logger = logging.getLogger(__name__)


def stable_reliability(pairs, files) -> dict[str, dict[str, float]]:
    """ICC(3,1), within-subject SD and MDC95 of every score (and the volume) over the scored ``pairs``."""
    first = [json.loads(files.scores(str(p.first["id"])).read_text()) for p in pairs]
    second = [json.loads(files.scores(str(p.second["id"])).read_text()) for p in pairs]
    return reliability_table(first, second, [name for name in CHANGE_NAMES if name in first[0]])


def calibrate_change(ckpt_path: str, dataset_dir: str, output_path: str, **overrides) -> Path:
    """Learn the change calibration from the datalist's stable pairs of healthy subjects (both visits healthy) and
    write the model with it to ``output_path``; other pairs are not used. The visits' scores and the scores'
    reliability (``reliability.csv``) are kept beside it, in ``<model name>_change_calibration/``."""
    state, reference = calibrated_model(ckpt_path)
    healthy = [p for p in read_pairs(dataset_dir, None) if p.first.get("healthy") and p.second.get("healthy")]
    if not healthy:
        raise DatalistError(f"{dataset_dir}: no pair whose two visits are marked healthy")
    visits_dir = Path(output_path).with_name(f"{Path(output_path).stem}_change_calibration")  # the visits' scores
    score_visits(healthy, ckpt_path, visits_dir, **overrides)
    files, calibration = visit_files(visits_dir, overrides), ChangeCalibration()
    _, unscored = scored_pairs(healthy, files)
    if unscored:
        raise InputError(
            f"{dataset_dir}: {len(unscored)} visits of stable pairs could not be scored ({some_files(unscored)}; the "
            "warnings above say why): fix or remove them to calibrate"
        )
    calibration.fit([changes_of(pair_changes(p, files, reference)) for p in healthy], str(dataset_dir))
    calibration.reliability = stable_reliability(healthy, files)
    write_csv([{"score": name, **row} for name, row in calibration.reliability.items()], visits_dir / "reliability.csv")
    state["change_calibration"] = calibration.state_dict()
    with atomic_path(Path(output_path)) as tmp:
        torch.save(state, tmp)
    logger.info("change calibration from %d stable pairs written to %s", calibration.pairs, output_path)
    return Path(output_path)
