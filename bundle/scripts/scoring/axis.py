"""The abnormal axis: where abnormal lies in the latent space, learned from a few labelled cases.

A detector that does not know which way "abnormal" points sits near a ceiling on mild anomalies; a few diagnosed cases
show the direction. The axis is learned in few dimensions, as it must be with few cases: the healthy codes' leading
principal axes (``COMPONENTS``), each scaled to unit healthy spread. In that whitened space the direction is the
healthy-to-abnormal mean difference (``mean_difference``, the knee osteoarthritis "B-score" line; what ``auto``
uses) or shrinkage LDA (``shrinkage_lda``: the difference weighted by the inverse Ledoit-Wolf pooled covariance). In
the whitened space the pooled covariance is nearly the identity, and on the tuning seed of ``bench/label_efficiency.py``
both gave the same AUC to three decimals for 2 to 16 cases: the simpler one is the default. A muscle's ``axis_score``
is its position along the axis in healthy standard deviations from the healthy mean: signed, positive towards the
labelled abnormal cases. Both sides are codes fitted like a new subject's (the healthy training subjects are
re-fitted), so that the score of a new muscle is on the scale the axis was learned on.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.covariance import LedoitWolf

from ..data.datalist import MIN_CASES, MIN_HEALTHY
from ..errors import InputError
from .norms import on_cpu

COMPONENTS = 10
METHODS = ("auto", "mean_difference", "shrinkage_lda")


class AxisError(InputError):
    """An axis that cannot be learned from what was given; the message names the data."""


def _codes(values) -> np.ndarray:
    """``[N, D]`` float64 codes from a stack of codes, or ``[1, D]`` from a single code ``[D]``: a subject's code as
    inference holds it is one row, not D rows of one number."""
    codes = np.asarray(torch.as_tensor(np.asarray(values)).detach().cpu(), dtype=np.float64)
    return codes.reshape(1, -1) if codes.ndim == 1 else codes.reshape(len(codes), -1)


class AbnormalAxis:
    """A direction in code space with the healthy distribution along it; ``cases`` is how many labelled abnormal
    subjects it rests on (0: no axis). State is tensors, numbers and strings (``weights_only`` checkpoints)."""

    def __init__(self) -> None:
        self.centre: torch.Tensor | None = None  # healthy mean code
        self.direction: torch.Tensor | None = None  # unit-free: projection weights in code space
        self.healthy_mean, self.healthy_sd = 0.0, 1.0
        self.healthy_scores: torch.Tensor | None = None  # the healthy subjects' own axis scores
        self.cases, self.healthy_count, self.method = 0, 0, "none"

    @property
    def ready(self) -> bool:
        return self.cases > 0 and self.direction is not None

    def learn(self, healthy, abnormal, method: str = "auto", source: str = "the labelled subjects") -> None:
        """Learn the axis from healthy and labelled abnormal codes (each ``[n, D]``, fitted like new subjects).

        Raises:
            AxisError: fewer than ``MIN_CASES`` abnormal or 3 healthy subjects (naming ``source``), or an unknown
                method.
        """
        if method not in METHODS:
            raise AxisError(f"{source}: unknown axis method {method!r}; one of {', '.join(METHODS)}")
        healthy, abnormal = _codes(healthy), _codes(abnormal) if len(abnormal) else np.zeros((0, 1))
        if len(abnormal) < MIN_CASES or len(healthy) < MIN_HEALTHY:
            raise AxisError(
                f"{source}: the abnormal axis needs at least {MIN_CASES} subjects marked abnormal (healthy: false) and "
                f"{MIN_HEALTHY} healthy ones; found {len(abnormal)} abnormal and {len(healthy)} healthy"
            )
        centre = healthy.mean(axis=0)
        _, _, vectors = np.linalg.svd(healthy - centre, full_matrices=False)
        basis = vectors[: min(COMPONENTS, len(healthy) - 1)]
        scale = np.maximum(((healthy - centre) @ basis.T).std(axis=0, ddof=1), 1e-9)
        h, a = ((healthy - centre) @ basis.T) / scale, ((abnormal - centre) @ basis.T) / scale
        chosen = "mean_difference" if method == "auto" else method
        difference = a.mean(axis=0) - h.mean(axis=0)
        if chosen == "shrinkage_lda":
            pooled = np.concatenate([h - h.mean(axis=0), a - a.mean(axis=0)])
            difference = LedoitWolf(assume_centered=True).fit(pooled).precision_ @ difference
        weights = difference / max(float(np.linalg.norm(difference)), 1e-12)
        direction = basis.T @ (weights / scale)  # code -> position along the axis: (code - centre) @ direction
        along = (healthy - centre) @ direction
        self.centre, self.direction = torch.from_numpy(centre), torch.from_numpy(direction)
        self.healthy_mean, self.healthy_sd = float(along.mean()), float(max(along.std(ddof=1), 1e-9))
        self.healthy_scores = torch.from_numpy((along - self.healthy_mean) / self.healthy_sd)
        self.cases, self.healthy_count, self.method = len(a), len(h), chosen

    def score(self, codes) -> np.ndarray:
        """Signed position of each code along the axis, in healthy standard deviations from the healthy mean."""
        if not self.ready:
            raise AxisError("this model has no abnormal axis: it was trained or calibrated without labelled cases")
        along = (_codes(codes) - self.centre.numpy()) @ self.direction.numpy()
        return (along - self.healthy_mean) / self.healthy_sd

    def judge(self, code, level: float) -> dict[str, float | bool]:
        """``axis_score``, its percentile among the healthy subjects the axis was learned with, and ``abnormal``
        above the predictive ``level`` quantile for a new subject (the score is in healthy standard deviations,
        estimated from ``healthy_count`` subjects: ``calibration.decision_threshold``)."""
        from .calibration import decision_threshold

        value = float(self.score(code)[0])
        return {
            "axis_score": value,
            "axis_score_percentile": float(100.0 * np.mean(self.healthy_scores.numpy() < value)),
            "axis_score_abnormal": bool(value > decision_threshold(level, self.healthy_count)),
        }

    def describe(self) -> dict:
        if not self.ready:
            return {"labelled_cases": 0, "method": "none: no subject marked abnormal was given"}
        return {"labelled_cases": self.cases, "healthy_subjects": self.healthy_count, "method": self.method}

    def state_dict(self) -> dict:
        return {
            "axis_centre": self.centre,
            "axis_direction": self.direction,
            "axis_healthy": torch.tensor([self.healthy_mean, self.healthy_sd], dtype=torch.float64),
            "axis_healthy_scores": self.healthy_scores,
            "axis_counts": torch.tensor([self.cases, self.healthy_count]),
            "axis_method": self.method,
        }

    def load_state_dict(self, state: dict) -> None:
        self.centre, self.direction = on_cpu(state.get("axis_centre")), on_cpu(state.get("axis_direction"))
        if self.direction is None:
            self.__init__()
            return
        self.healthy_mean, self.healthy_sd = (float(v) for v in state["axis_healthy"])
        self.healthy_scores = on_cpu(state.get("axis_healthy_scores"))
        self.cases, self.healthy_count = (int(v) for v in state["axis_counts"])
        self.method = str(state.get("axis_method", "mean_difference"))

    def check_latent_dim(self, latent_dim: int) -> None:
        """Refuse an axis learned in another latent space than the model's codes of ``latent_dim`` numbers.

        Raises:
            ValueError: the axis holds codes of another length.
        """
        if self.ready and self.centre.numel() != latent_dim:
            raise ValueError(
                f"its abnormal axis was learned in another latent space (codes of {self.centre.numel()} numbers, "
                f"this model's have {latent_dim})"
            )
