"""Anomaly scores and the healthy reference stored with the model, which calibrates them.

``SCORE_LABELS`` is the one vocabulary of anomaly scores (higher = more abnormal), used by the writers, the group
analysis and the report. Scores computed from one subject alone (``metrics``) come from postprocessing; the scores that
need the reference come from here:

- ``latent_distance``: the fitted code's distance from healthy fitted codes (``norms.LatentNorm``);
- ``normative_score`` and ``regional_atrophy``: the input's surface against its restored normal shape, cell by cell of
  the deviation map, in healthy spreads (``norms.RegionalNorm``): the sum of inward z-scores beyond ``NORMATIVE_Z``,
  and the mean of the ``REGIONAL_TOP_K`` most inward cells (tissue missing where healthy muscles do not lack it);
- ``regional_flattening``: the mean of the ``FLATTENING_TOP_K`` sections whose flattening relative to the restored
  shape (``sections``) is furthest beyond healthy muscles';
- ``combined``: the mean z-score of ``COMBINED_MEMBERS``.

Every score is then calibrated against the healthy subjects' values (``calibration.ScoreCalibration``). The reference
is calibrated on healthy subjects fitted like new ones, each measured against the others (leave one out) as a new
subject is measured against all of them.
"""

from __future__ import annotations

import numpy as np
import torch

from ..settings import SettingsError
from .axis import AbnormalAxis
from .calibration import ScoreCalibration, decision_threshold
from .deviation import MAP_BINS
from .domain import KnownRange
from .norms import LatentNorm, RegionalNorm

SCORE_LABELS = {
    "recon_score": "1 - Dice",
    "asd_mm": "ASD",
    "hd95_mm": "HD95",
    "extra_fraction": "extra tissue",
    "missing_fraction": "missing tissue",
    "inward_depth_mm": "inward depth",
    "latent_distance": "latent distance",
    "normative_score": "normative map",
    "regional_atrophy": "regional atrophy",
    "regional_flattening": "regional flattening",
    "combined": "combined",
    "axis_score": "abnormal axis (labelled cases)",
}
LABELLED = ("axis_score",)  # scores that rest on labelled abnormal subjects, calibrated by their own construction
# Chosen on the tuning seeds of bench/detection_power.py: see the model card.
COMBINED_MEMBERS = ("regional_atrophy", "regional_flattening")
LEGACY_MEMBERS = ("recon_score", "latent_distance")  # the combination of references written before 0.3.0
NORMATIVE_Z = 2.0  # cells of the deviation map further than this many healthy spreads count in the normative score
REGIONAL_TOP_K = 8  # the cells of the deviation map whose inward z-scores make the regional atrophy score
FLATTENING_TOP_K = 4  # the sections whose flattening z-scores make the regional flattening score
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
        """The cells of the deviation maps this reference was calibrated with (models before 0.5.0 used fewer)."""
        return tuple(self.deviation.mean.shape) if self.deviation.ready else MAP_BINS

    @property
    def parts(self) -> tuple:
        """The norms whose states make the reference's (each under its own keys)."""
        return self.latent, self.deviation, self.flattening, self.axis, self.domain

    def reference_scores(self, code, deviation_map=None, flattening=None) -> dict[str, float]:
        """The scores that need the reference, from a subject's code, deviation map and flattening profile."""
        out = {"latent_distance": float(self.latent.distance(code)[0])}
        if deviation_map is not None and self.deviation.ready:
            inward = np.clip(-self.deviation.z(deviation_map) - NORMATIVE_Z, 0.0, None)
            out["normative_score"] = float(inward.sum())
            out["regional_atrophy"] = self.deviation.lowest(deviation_map, REGIONAL_TOP_K)
        if flattening is not None and self.flattening.ready:
            out["regional_flattening"] = self.flattening.lowest(flattening, FLATTENING_TOP_K)
        return out

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
        self.scores.store(rows, [n for n in SCORE_LABELS if n != "combined" and n not in LABELLED])
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
    known = sorted(reference.scores.healthy) + (list(LABELLED) if reference.axis.ready else [])
    if name not in known:
        raise SettingsError(f"--decision_score {name}: not a score this model is calibrated for; one of {known}")


def _fit_norms(reference: HealthyReference, codes, maps, profiles) -> None:
    """The healthy fitted codes, deviation maps and (optional) flattening profiles as the reference's norms."""
    reference.latent.fit_reference(codes)
    reference.deviation.fit(maps)
    if profiles:
        reference.flattening.fit(profiles)
