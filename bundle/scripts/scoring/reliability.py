"""How much a score moves when nothing changed: test-retest statistics and the calibration of change.

On pairs of visits of the same muscle (re-scanned, re-segmented), ``icc_3_1`` is the two-way mixed, consistency,
single-measure intraclass correlation (Shrout and Fleiss' ICC(3,1)); ``within_subject_sd`` the standard error of
measurement from its residual mean square; the minimal detectable change ``MDC95 = 1.96 sqrt(2) SEM``: a change
smaller than that is within the test-retest noise at 95 %. ``ChangeCalibration`` keeps, per score, the spread of the
change on stable pairs of healthy subjects, and decides a new pair's change against a predictive threshold.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from ..errors import InputError

MIN_STABLE_PAIRS = 3


def _pairs(first, second) -> np.ndarray:
    values = np.column_stack([np.asarray(first, dtype=float), np.asarray(second, dtype=float)])
    return values[np.isfinite(values).all(axis=1)]


def _mean_squares(values: np.ndarray) -> tuple[float, float]:
    """Between-subject and residual mean squares of an ``[n, k]`` table (two-way, no replication)."""
    n, k = values.shape
    grand = values.mean()
    between = k * ((values.mean(axis=1) - grand) ** 2).sum() / (n - 1)
    residual = values - values.mean(axis=1, keepdims=True) - values.mean(axis=0, keepdims=True) + grand
    return float(between), float((residual**2).sum() / ((n - 1) * (k - 1)))


def icc_3_1(first, second) -> float:
    """ICC(3,1) of paired measurements; NaN with fewer than three complete pairs or no spread at all."""
    values = _pairs(first, second)
    if len(values) < 3:
        return math.nan
    between, residual = _mean_squares(values)
    return math.nan if between + residual == 0 else (between - residual) / (between + residual)


def within_subject_sd(first, second) -> float:
    """The standard error of measurement: the square root of the residual mean square (ICC(3,1)'s error term)."""
    values = _pairs(first, second)
    return math.nan if len(values) < 2 else math.sqrt(_mean_squares(values)[1])


def minimal_detectable_change(first, second, confidence: float = 0.95) -> float:
    """MDC: the smallest change beyond the test-retest noise at ``confidence`` (1.96 sqrt(2) SEM at 95 %)."""
    return float(stats.norm.ppf(0.5 + confidence / 2) * math.sqrt(2.0) * within_subject_sd(first, second))


def reliability_table(first_rows: list[dict], second_rows: list[dict], names) -> dict[str, dict[str, float]]:
    """Per score: ICC(3,1), within-subject SD and MDC95 over the pairs ``(first_rows[i], second_rows[i])``."""
    table = {}
    for name in names:
        a = [row.get(name, math.nan) for row in first_rows]
        b = [row.get(name, math.nan) for row in second_rows]
        table[name] = {
            "icc_3_1": icc_3_1(a, b),
            "within_subject_sd": within_subject_sd(a, b),
            "mdc95": minimal_detectable_change(a, b),
            "pairs": len(_pairs(a, b)),
        }
    return table


class ChangeCalibration:
    """The change of each score between two visits of stable healthy subjects: its mean and spread.

    A pair's change of ``name`` is judged against the predictive ``level`` interval of a new stable pair (two-sided,
    Student-t on ``n - 1`` degrees of freedom, widened by ``sqrt(1 + 1/n)``): outside it, the muscle changed beyond
    the test-retest noise. State is numbers and strings (``weights_only`` checkpoints).
    """

    def __init__(self) -> None:
        self.mean: dict[str, float] = {}
        self.sd: dict[str, float] = {}
        self.pairs = 0
        self.reliability: dict[str, dict[str, float]] = {}  # per score, on these pairs (``reliability_table``)

    @property
    def ready(self) -> bool:
        return self.pairs >= MIN_STABLE_PAIRS

    def fit(self, changes: list[dict[str, float]], source: str = "the stable pairs") -> None:
        """``changes``: one mapping per stable pair of healthy subjects, score -> change (second minus first)."""
        if len(changes) < MIN_STABLE_PAIRS:
            raise InputError(f"{source}: {len(changes)} stable pairs; the change calibration needs {MIN_STABLE_PAIRS}")
        names = sorted(set.intersection(*(set(c) for c in changes)))
        for name in names:
            values = np.asarray([c[name] for c in changes], dtype=float)
            values = values[np.isfinite(values)]
            if len(values) >= MIN_STABLE_PAIRS:
                self.mean[name] = float(values.mean())
                self.sd[name] = float(max(values.std(ddof=1), 1e-9))
        self.pairs = len(changes)

    def threshold(self, level: float) -> float:
        """How many spreads of the stable change a pair's change may lie from their mean at ``level``."""
        n = self.pairs
        return float(stats.t.ppf(0.5 + level / 2, n - 1) * math.sqrt(1.0 + 1.0 / n))

    def judge(self, changes: dict[str, float], name: str, level: float) -> dict[str, float | bool]:
        """Every calibrated change of ``changes`` in stable spreads (``<change>_z``), and whether the pair ``changed``
        beyond the test-retest noise by the change ``name``."""
        if name not in self.sd:
            raise InputError(f"--change_score {name}: the change calibration has no spread for it")
        judged = {f"{k}_z": (v - self.mean[k]) / self.sd[k] for k, v in changes.items() if k in self.sd}
        return {**judged, "changed": bool(abs(judged[f"{name}_z"]) > self.threshold(level))}

    def state_dict(self) -> dict:
        reliability = {name: dict(row) for name, row in self.reliability.items()}
        return {"mean": dict(self.mean), "sd": dict(self.sd), "pairs": self.pairs, "reliability": reliability}

    def load_state_dict(self, state: dict) -> None:
        self.mean, self.sd, self.pairs = dict(state["mean"]), dict(state["sd"]), int(state["pairs"])
        # a calibration learned before the table was kept has none
        self.reliability = {name: dict(row) for name, row in state.get("reliability", {}).items()}
