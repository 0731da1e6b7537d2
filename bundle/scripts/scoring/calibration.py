"""What a score's value means against healthy subjects: z-score, percentile, decision at a level, threshold.

The reference holds each score's values on healthy subjects fitted exactly like a new subject. A value gets a z-score
against them, its percentile among them (with the number of healthy subjects it rests on), and ``abnormal`` when the
z-score exceeds the predictive ``level`` quantile for a new subject (``decision_threshold``, the one place that computes
it). With n healthy subjects the mean and spread are estimates: a new healthy subject's z-score against them follows
Student's t with n - 1 degrees of freedom scaled by sqrt(1 + 1/n), not a standard normal, so the normal quantile calls
more healthy subjects abnormal than the level promises (about 7.6% instead of 5% with 10 subjects at 95%).
A score's scale is floored (a quarter of a voxel for distances), so that a score on which every healthy subject agrees
(HD95 at one voxel) gives finite, meaningful z-scores.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import norm, t

DISTANCE_SCORES = ("asd_mm", "hd95_mm", "inward_depth_mm")
Z_CAP = 50.0  # z-scores are capped here before they are averaged, so that one infinite distance cannot dominate


def normal_threshold(level: float) -> float:
    """The ``level`` quantile of a standard normal: the threshold if the healthy mean and spread were known exactly."""
    return float(norm.ppf(level))


def decision_threshold(level: float, count: int) -> float:
    """The z-score above which a new subject is abnormal at ``level`` when the healthy mean and spread come from
    ``count`` healthy subjects: the one-sided predictive quantile, ``t(level; count - 1) * sqrt(1 + 1 / count)``.

    A new healthy subject then exceeds it with probability ``1 - level`` under normality, whatever ``count``; with fewer
    than 2 subjects nothing can be called abnormal (infinite threshold)."""
    if count < 2:
        return float("inf")
    return float(t.ppf(level, count - 1) * np.sqrt(1.0 + 1.0 / count))


class ScoreCalibration:
    """Healthy samples of scalar scores (``healthy``: name -> values) and what a new value means against them."""

    def __init__(self, voxel_mm: float = 1.0) -> None:
        self.voxel_mm = float(voxel_mm)
        self.healthy: dict[str, torch.Tensor] = {}

    @property
    def count(self) -> int:
        """How many healthy subjects the calibration rests on."""
        return len(next(iter(self.healthy.values()))) if self.healthy else 0

    def store(self, rows: list[dict], names) -> None:
        """Keep the healthy subjects' values of every score in ``names`` that each row holds."""
        names = [n for n in names if all(n in r for r in rows)]
        self.healthy = {n: torch.tensor([float(r[n]) for r in rows], dtype=torch.float64) for n in names}

    def _finite(self, name: str) -> np.ndarray:
        values = self.healthy[name].numpy()
        return values[np.isfinite(values)]

    def _scale(self, name: str, finite: np.ndarray) -> float:
        spread = float(finite.std(ddof=1)) if len(finite) > 1 else 0.0
        floor = 0.25 * self.voxel_mm if name in DISTANCE_SCORES else 1e-3 * max(abs(float(np.mean(finite))), 1e-3)
        return max(spread, floor)

    def z(self, name: str, value) -> np.ndarray:
        finite = self._finite(name)
        centre = float(np.mean(finite)) if len(finite) else 0.0
        value = np.asarray(value, dtype=np.float64)
        return np.where(np.isposinf(value), np.inf, (value - centre) / self._scale(name, finite))

    def mean_z(self, names, values: dict) -> np.ndarray:
        """The mean of several scores' capped z-scores (calibrated scores on one scale, then averaged)."""
        return np.mean([np.minimum(self.z(n, values[n]), Z_CAP) for n in names], axis=0)

    def judge(self, name: str, value: float, level: float) -> dict[str, float | bool]:
        """``<name>_z``, ``<name>_percentile`` among healthy subjects and ``<name>_abnormal`` at ``level``."""
        z = float(self.z(name, value))
        return {
            f"{name}_z": z,
            f"{name}_percentile": float(100.0 * np.mean(self.healthy[name].numpy() < value)),
            f"{name}_abnormal": bool(z > decision_threshold(level, len(self._finite(name)))),
        }

    def thresholds(self, level: float) -> dict[str, float]:
        """Score values above which a subject is called abnormal at ``level``."""
        out = {}
        for name in self.healthy:
            finite = self._finite(name)
            if not len(finite):
                out[name] = float("nan")
                continue
            out[name] = float(finite.mean() + decision_threshold(level, len(finite)) * self._scale(name, finite))
        return out
