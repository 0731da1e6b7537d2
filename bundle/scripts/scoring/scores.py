"""The one table of anomaly scores: each score's label, kind and the function that measures it (higher = abnormal).

A ``subject`` score is measured from one subject's row of metrics alone (``subject.score_subject``); a ``reference``
score against the model's healthy reference, from the subject's fit (``Fitted``: code, deviation map, flattening
profile); ``combined`` is the mean z-score of ``COMBINED_MEMBERS`` and the ``labelled`` abnormal axis rests on labelled
cases (``axis``). Adding a score is one function and its row in ``SCORES``: the chain measures it, the healthy
reference calibrates it (z-score, percentile, decision), and the writers, the group analysis and the report show it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter

import numpy as np

NORMATIVE_Z = 2.0  # cells of the deviation map further than this many healthy spreads count in the normative score
REGIONAL_TOP_K = 8  # the cells of the deviation map whose inward z-scores make the regional atrophy score
FLATTENING_TOP_K = 4  # the sections whose flattening z-scores make the regional flattening score


@dataclass(frozen=True)
class Fitted:
    """What the reference scores read of a subject: its fitted code, deviation map and flattening profile."""

    code: object
    deviation_map: np.ndarray | None = None
    flattening_profile: np.ndarray | None = None


@dataclass(frozen=True)
class Score:
    """One anomaly score: ``label`` for people, ``kind`` (subject, reference, combined, labelled) and ``measure``:
    ``(row) -> float`` for a subject score, ``(reference, Fitted) -> float | None`` for a reference score (None where
    the reference or the subject lacks what it needs)."""

    label: str
    kind: str
    measure: Callable | None = None


def recon_score(row: dict) -> float:
    """1 - Dice of the reconstruction: the published score."""
    return 1.0 - row["dice"]


def latent_distance(reference, fitted: Fitted) -> float:
    """The fitted code's distance from healthy fitted codes (``norms.LatentNorm``)."""
    return float(reference.latent.distance(fitted.code)[0])


def normative_score(reference, fitted: Fitted) -> float | None:
    """The inward z-scores of the deviation map beyond ``NORMATIVE_Z``, summed."""
    if fitted.deviation_map is None or not reference.deviation.ready:
        return None
    return float(np.clip(-reference.deviation.z(fitted.deviation_map) - NORMATIVE_Z, 0.0, None).sum())


def regional_atrophy(reference, fitted: Fitted) -> float | None:
    """The mean of the ``REGIONAL_TOP_K`` most inward cells: tissue missing where healthy muscles do not lack it."""
    if fitted.deviation_map is None or not reference.deviation.ready:
        return None
    return reference.deviation.lowest(fitted.deviation_map, REGIONAL_TOP_K)


def regional_flattening(reference, fitted: Fitted) -> float | None:
    """The mean of the ``FLATTENING_TOP_K`` sections flattest beyond healthy muscles, relative to the restored shape."""
    if fitted.flattening_profile is None or not reference.flattening.ready:
        return None
    return reference.flattening.lowest(fitted.flattening_profile, FLATTENING_TOP_K)


SCORES: dict[str, Score] = {
    "recon_score": Score("1 - Dice", "subject", recon_score),
    "asd_mm": Score("ASD", "subject", itemgetter("asd_mm")),
    "hd95_mm": Score("HD95", "subject", itemgetter("hd95_mm")),
    "extra_fraction": Score("extra tissue", "subject", itemgetter("extra_fraction")),
    "missing_fraction": Score("missing tissue", "subject", itemgetter("missing_fraction")),
    "inward_depth_mm": Score("inward depth", "subject", itemgetter("inward_depth_mm")),
    "latent_distance": Score("latent distance", "reference", latent_distance),
    "normative_score": Score("normative map", "reference", normative_score),
    "regional_atrophy": Score("regional atrophy", "reference", regional_atrophy),
    "regional_flattening": Score("regional flattening", "reference", regional_flattening),
    "combined": Score("combined", "combined"),
    "axis_score": Score("abnormal axis (labelled cases)", "labelled"),
}
SCORE_LABELS = {name: score.label for name, score in SCORES.items()}
# Chosen on the tuning seeds of bench/detection_power.py (see the model card).
COMBINED_MEMBERS = ("regional_atrophy", "regional_flattening")
LEGACY_MEMBERS = ("recon_score", "latent_distance")  # the oldest model files combine these


def named(*kinds: str) -> tuple[str, ...]:
    """The scores of the table of these kinds (``calibrated``: subject and reference scores), as the table stands."""
    kinds = ("subject", "reference") if kinds == ("calibrated",) else kinds
    return tuple(name for name, score in SCORES.items() if score.kind in kinds)


def subject_scores(row: dict) -> dict[str, float]:
    """Every subject score of a row of metrics."""
    return {name: float(s.measure(row)) for name, s in SCORES.items() if s.kind == "subject"}


def reference_scores(reference, fitted: Fitted) -> dict[str, float]:
    """Every reference score the reference and the subject allow."""
    out = {}
    for name, score in SCORES.items():
        if score.kind == "reference" and (value := score.measure(reference, fitted)) is not None:
            out[name] = float(value)
    return out
