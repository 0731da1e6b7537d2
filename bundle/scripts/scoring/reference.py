"""The healthy reference stored with the model, which measures the scores that need it and calibrates them all.

The scores are ``scores.SCORES``; those that need the reference (the latent distance, the regional scores against the
restored normal shape) are measured here from a subject's fit, ``combined`` is the mean z-score of its members, and
every score is calibrated against the healthy subjects' values (``calibration.ScoreCalibration``). The reference is
calibrated on healthy subjects fitted like new ones, each measured against the others (leave one out) as a new subject
is measured against all of them. ``SCORE_LABELS`` and the scores' constants are re-exported for the readers of the
scores.
"""

from __future__ import annotations

import torch

from ..settings import SettingsError
from .axis import AbnormalAxis
from .calibration import ScoreCalibration, decision_threshold
from .deviation import MAP_BINS
from .domain import KnownRange
from .norms import LatentNorm, RegionalNorm
from .scores import (
    COMBINED_MEMBERS,
    FLATTENING_TOP_K,
    LEGACY_MEMBERS,
    REGIONAL_TOP_K,
    SCORE_LABELS,
    Fitted,
    named,
    reference_scores,
)

__all__ = ["FLATTENING_TOP_K", "REGIONAL_TOP_K", "SCORE_LABELS", "HealthyReference", "check_decision_score"]
# A cell's healthy spread is floored at this fraction of a voxel: sub-voxel surfaces vary by about 0.15 voxel between
# healthy subjects, and a floor at a quarter voxel hid the regional signal (bench/detection_power.py).
MAP_SCALE_FLOOR = 0.1
PROFILE_SCALE_FLOOR = 0.01  # a section's healthy spread of log-aspect, floored at 1 %


class HealthyReference:
    """What "healthy" looks like for one trained model: its codes, its deviation maps, its sections, its scores.

    Args:
        level: the level of the decisions (a subject is abnormal above the healthy ``level`` quantile).
        voxel_mm: the model's voxel size, which floors the spreads of distances.
        fixed_level: a scoring run's chosen level wins over the one stored with the model.
        ood_level: the level beyond which a subject's fit lies outside what the model knows (``domain.KnownRange``).
    """

    def __init__(
        self, level: float = 0.95, voxel_mm: float = 1.0, fixed_level: bool = False, ood_level: float = 0.999
    ) -> None:
        if not 0.5 < level < 1.0:
            raise ValueError(f"the calibration level must lie in (0.5, 1), got {level}")
        self.level, self.fixed_level = float(level), fixed_level
        self.latent = LatentNorm()
        self.deviation = RegionalNorm("map", MAP_SCALE_FLOOR * voxel_mm)
        self.flattening = RegionalNorm("profile", PROFILE_SCALE_FLOOR)
        self.scores = ScoreCalibration(voxel_mm)
        self.axis = AbnormalAxis()
        self.domain = KnownRange(ood_level)
        self.members: tuple[str, ...] = COMBINED_MEMBERS

    @property
    def ready(self) -> bool:
        return self.latent.mean is not None and bool(self.scores.healthy)

    @property
    def map_bins(self) -> tuple[int, ...]:
        """The cells of the deviation maps this reference was calibrated with (an older model file may have fewer)."""
        return tuple(self.deviation.mean.shape) if self.deviation.ready else MAP_BINS

    @property
    def parts(self) -> tuple:
        """The norms whose states make the reference's (each under its own keys)."""
        return self.latent, self.deviation, self.flattening, self.axis, self.domain

    def reference_scores(self, code, deviation_map=None, flattening=None) -> dict[str, float]:
        """The scores that need the reference (``scores.SCORES``), from a subject's code, map and profile."""
        return reference_scores(self, Fitted(code, deviation_map, flattening))

    def calibrate_on(self, rows: list[dict], codes, maps, profiles=None) -> None:
        """Calibrate on healthy held-out subjects: their raw score rows, fitted codes, deviation maps and (optional)
        flattening profiles; each subject is measured against the others (leave one out)."""
        codes = torch.stack([torch.as_tensor(c).reshape(-1) for c in codes])
        full = []
        for i, row in enumerate(rows):
            others = [j for j in range(len(rows)) if j != i] or [i]
            _fit_norms(self, codes[others], [maps[j] for j in others], profiles and [profiles[j] for j in others])
            full.append({**row, **self.reference_scores(codes[i : i + 1], maps[i], profiles and profiles[i])})
        _fit_norms(self, codes, maps, profiles)
        self.calibrate(full)

    def calibrate(self, rows: list[dict]) -> None:
        """Store the healthy reference subjects' raw scores (each row holds every score but ``combined``)."""
        self.scores.store(rows, named("calibrated"))
        self.domain.store(rows)
        self.members = tuple(n for n in COMBINED_MEMBERS if n in self.scores.healthy)
        healthy = {n: v.numpy() for n, v in self.scores.healthy.items()}
        self.scores.healthy["combined"] = torch.as_tensor(self.scores.mean_z(self.members, healthy))

    def assess(self, row: dict, code, deviation_map=None, flattening=None) -> dict[str, float | bool]:
        """Reference scores, ``combined`` and, per calibrated score, ``<name>_z``, ``<name>_percentile`` and
        ``<name>_abnormal``; ``reference_subjects`` says how many healthy subjects they rest on."""
        if not self.ready:
            return {}
        out: dict[str, float | bool] = self.reference_scores(code, deviation_map, flattening)
        values = {**row, **out}
        if all(n in values for n in self.members):
            out["combined"] = values["combined"] = float(self.scores.mean_z(self.members, values))
        for name in self.scores.healthy:
            if name in values:
                out.update(self.scores.judge(name, values[name], self.level))
        if self.axis.ready:
            out.update(self.axis.judge(code, self.level))
        out.update(self.domain.assess(values))
        out["reference_subjects"] = self.scores.count
        return out

    def describe(self) -> dict:
        """What the decisions rest on, for scores.json."""
        return {
            "level": self.level,
            "reference_subjects": self.scores.count,
            "z_threshold": decision_threshold(self.level, self.scores.count),
            "thresholds": self.scores.thresholds(self.level),
            "abnormal_axis": self.axis.describe(),
            "out_of_distribution": self.domain.describe() if self.domain.ready else None,
        }

    def state_dict(self) -> dict:
        state = {"level": self.level, "voxel_mm": self.scores.voxel_mm, "members": list(self.members)}
        for part in self.parts:
            state.update(part.state_dict())
        return {**state, "healthy": dict(self.scores.healthy)}

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        missing = {"level", "latent_mean", "latent_precision", "healthy"} - set(state)
        if missing and strict:
            raise KeyError(f"healthy reference state lacks {sorted(missing)}")
        self.level = self.level if self.fixed_level else float(state.get("level", self.level))
        self.scores.voxel_mm = float(state.get("voxel_mm", self.scores.voxel_mm))
        # scoring runs on the CPU: a checkpoint loaded with map_location="cuda" must not leave the reference there
        for part in self.parts:
            part.load_state_dict(state)
        if self.latent.mean is not None:
            self.axis.check_latent_dim(self.latent.mean.numel())
        self.scores.healthy = {k: torch.as_tensor(v).detach().cpu() for k, v in (state.get("healthy") or {}).items()}
        self.members = tuple(state.get("members", LEGACY_MEMBERS))


def check_decision_score(reference: HealthyReference, name: str) -> None:
    """Refuse (one line) a decision score the reference is not calibrated for."""
    known = sorted(reference.scores.healthy) + (list(named("labelled")) if reference.axis.ready else [])
    if name not in known:
        raise SettingsError(f"--decision_score {name}: not a score this model is calibrated for; one of {known}")


def _fit_norms(reference: HealthyReference, codes, maps, profiles) -> None:
    """The healthy fitted codes, deviation maps and (optional) flattening profiles as the reference's norms."""
    reference.latent.fit_reference(codes)
    reference.deviation.fit(maps)
    if profiles:
        reference.flattening.fit(profiles)
