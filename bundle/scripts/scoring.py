"""Anomaly scores and their calibration against the healthy reference stored with the model.

``SCORE_LABELS`` is the one vocabulary of anomaly scores (higher = more abnormal), used by the writers, the group
analysis and the report. Scores computed from one subject alone (``metrics``) come from postprocessing; the scores
that need the healthy reference (the latent distance, the normative score) and every calibration come from
``HealthyReference.assess``.

Calibration: the reference holds each score's values on healthy subjects fitted exactly like a new subject (the
validation subjects, held out from training). A subject gets, per score, a z-score against them, its percentile among
them (with the number of healthy subjects it rests on), and ``abnormal`` when the z-score exceeds the reference's
``level`` quantile of a normal distribution. A score's scale is floored (a quarter of a voxel for distances), so that
a score on which every healthy subject agrees (HD95 at one voxel) gives finite, meaningful z-scores.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy.stats import norm
from sklearn.covariance import LedoitWolf

from .settings import SettingsError

SCORE_LABELS = {
    "recon_score": "1 - Dice",
    "asd_mm": "ASD",
    "hd95_mm": "HD95",
    "extra_fraction": "extra tissue",
    "missing_fraction": "missing tissue",
    "inward_depth_mm": "inward depth",
    "latent_distance": "latent distance",
    "normative_score": "normative map",
    "combined": "combined",
}
# The combination chosen on the tuning seed of bench/anomaly_detection.py: tissue outside the restored normal shape
# and the code's distance from healthy fitted codes; the normative map, weaker and less stable there, is reported alone.
COMBINED_MEMBERS = ("extra_fraction", "latent_distance")
LEGACY_MEMBERS = ("recon_score", "latent_distance")  # the combination of references written before 0.3.0
DISTANCE_SCORES = ("asd_mm", "hd95_mm", "inward_depth_mm")
LATENT_AXES = 10  # principal axes of the healthy codes along which the latent distance is measured
NORMATIVE_Z = 2.0  # cells of the deviation map further than this many healthy spreads count in the normative score


def _on_cpu(value) -> torch.Tensor | None:
    return None if value is None else torch.as_tensor(value).detach().cpu()


class HealthyReference:
    """What "healthy" looks like for one trained model: its codes, its deviation maps and its scores.

    ``state_dict`` holds only tensors, numbers and strings, so that checkpoints load with ``weights_only=True``.
    """

    def __init__(self, level: float = 0.95, voxel_mm: float = 1.0, fixed_level: bool = False) -> None:
        if not 0.5 < level < 1.0:
            raise ValueError(f"the calibration level must lie in (0.5, 1), got {level}")
        self.level, self.voxel_mm = float(level), float(voxel_mm)
        self.fixed_level = fixed_level  # a scoring run's chosen level wins over the one stored with the model
        self.latent_mean: torch.Tensor | None = None
        self.latent_precision: torch.Tensor | None = None
        self.latent_axes: torch.Tensor | None = None
        self.fit_centre: torch.Tensor | None = None
        self.fit_scale: torch.Tensor | None = None
        self.map_mean: torch.Tensor | None = None
        self.map_scale: torch.Tensor | None = None
        self.healthy: dict[str, torch.Tensor] = {}
        self.members: tuple[str, ...] = COMBINED_MEMBERS

    @property
    def ready(self) -> bool:
        return self.latent_mean is not None and bool(self.healthy)

    @property
    def count(self) -> int:
        """How many healthy subjects the calibration rests on."""
        return len(next(iter(self.healthy.values()))) if self.healthy else 0

    def fit_latent(self, codes) -> None:
        """The healthy training codes' shrinkage (Ledoit-Wolf) Gaussian, the fit's prior, and their principal axes,
        along which the latent distance is measured."""
        codes = np.asarray(torch.as_tensor(codes).detach().cpu(), dtype=np.float64)
        estimator = LedoitWolf().fit(codes)
        self.latent_mean = torch.from_numpy(estimator.location_)
        self.latent_precision = torch.from_numpy(estimator.precision_)
        _, _, axes = np.linalg.svd(codes - codes.mean(axis=0), full_matrices=False)
        self.latent_axes = torch.from_numpy(axes[: min(LATENT_AXES, len(axes))].copy())
        self.fit_centre = self.fit_scale = None

    def project(self, codes) -> np.ndarray:
        diff = np.asarray(torch.as_tensor(codes).detach().cpu(), dtype=np.float64).reshape(-1, self.latent_mean.numel())
        return (diff - self.latent_mean.numpy()) @ self.latent_axes.numpy().T

    def fit_latent_reference(self, codes) -> None:
        """Where healthy subjects *fitted like new ones* lie along the principal axes: codes fitted at test time
        are not distributed like the codes learned in training, so distances are measured against the former."""
        projected = self.project(codes)
        self.fit_centre = torch.from_numpy(projected.mean(axis=0))
        spread = projected.std(axis=0, ddof=1) if len(projected) > 1 else np.zeros(projected.shape[1])
        self.fit_scale = torch.from_numpy(np.maximum(spread, 1e-6))

    def latent_distance(self, codes) -> np.ndarray:
        """Distance of fitted codes from healthy fitted codes along the healthy codes' principal axes (standardised
        per axis); a reference without them (written before 0.3.0) uses the Mahalanobis distance to the codes."""
        if self.latent_mean is None:
            raise RuntimeError("the healthy reference has no latent model; fit_latent() first")
        if self.fit_centre is None:
            diff = torch.as_tensor(codes).detach().cpu().to(torch.float64).reshape(-1, self.latent_mean.numel())
            diff = diff - self.latent_mean
            return torch.sqrt(torch.einsum("nd,de,ne->n", diff, self.latent_precision, diff).clamp_min(0)).numpy()
        z = (self.project(codes) - self.fit_centre.numpy()) / self.fit_scale.numpy()
        return np.sqrt((z**2).sum(axis=1))

    def fit_normative(self, maps) -> None:
        """Per-cell mean and spread of healthy deviation maps (scale floored at a quarter of a voxel)."""
        stack = np.stack([np.asarray(m, dtype=np.float64) for m in maps])
        with warnings.catch_warnings():  # cells no healthy vertex fell in stay NaN, then neutral
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(stack, axis=0)
            scale = np.nanstd(stack, axis=0, ddof=1) if len(stack) > 1 else np.zeros_like(mean)
        self.map_mean = torch.from_numpy(np.nan_to_num(mean, nan=0.0))
        self.map_scale = torch.from_numpy(np.maximum(np.nan_to_num(scale, nan=0.0), 0.25 * self.voxel_mm))

    def normative_map(self, deviation_map) -> np.ndarray:
        """The subject's deviation map as z-scores against healthy subjects, cell by cell (0 where unobserved)."""
        z = (np.asarray(deviation_map, dtype=np.float64) - self.map_mean.numpy()) / self.map_scale.numpy()
        return np.nan_to_num(z, nan=0.0)

    def vertex_z(self, deviation) -> np.ndarray:
        """Each vertex's deviation as a z-score against healthy subjects in its cell of the map."""
        from .deviation import cells

        cell = cells(deviation.surface.vertices, deviation.frame, tuple(self.map_mean.shape))
        mean, scale = self.map_mean.numpy().ravel()[cell], self.map_scale.numpy().ravel()[cell]
        return (np.asarray(deviation.deviation, dtype=np.float64) - mean) / scale

    def normative_score(self, deviation_map) -> float:
        """How much of the surface lies further inside the normal shape than healthy subjects' surfaces do: the sum
        over cells of the inward z-score beyond ``NORMATIVE_Z``."""
        return float(np.clip(-self.normative_map(deviation_map) - NORMATIVE_Z, 0.0, None).sum())

    def reference_scores(self, row: dict, code, deviation_map=None) -> dict[str, float]:
        """The scores that need the reference: latent distance and, with a deviation map, the normative score."""
        out = {"latent_distance": float(self.latent_distance(code)[0])}
        if deviation_map is not None and self.map_mean is not None:
            out["normative_score"] = self.normative_score(deviation_map)
        return out

    def calibrate_on(self, rows: list[dict], codes, maps) -> None:
        """Calibrate on healthy held-out subjects: their raw score rows, fitted codes and deviation maps.

        Each subject's normative score is measured against the others' maps (leave one out), as a new subject's
        would be against all of them; the stored normative model then uses every map.
        """
        codes = torch.stack([torch.as_tensor(c).reshape(-1) for c in codes])
        full = []
        for i, row in enumerate(rows):
            others = [j for j in range(len(rows)) if j != i] or [i]
            self.fit_normative([maps[j] for j in others])
            self.fit_latent_reference(codes[others])
            latent = float(self.latent_distance(codes[i : i + 1])[0])
            full.append({**row, "latent_distance": latent, "normative_score": self.normative_score(maps[i])})
        self.fit_normative(maps)
        self.fit_latent_reference(codes)
        self.calibrate(full)

    def calibrate(self, rows: list[dict]) -> None:
        """Store the healthy reference subjects' raw scores (each row holds every score but ``combined``)."""
        names = [n for n in SCORE_LABELS if n != "combined" and all(n in r for r in rows)]
        self.healthy = {n: torch.tensor([float(r[n]) for r in rows], dtype=torch.float64) for n in names}
        self.members = tuple(n for n in COMBINED_MEMBERS if n in names)
        self.healthy["combined"] = torch.as_tensor(self._combine({n: self.healthy[n].numpy() for n in names}))

    def _scale(self, name: str, finite: np.ndarray) -> float:
        spread = float(finite.std(ddof=1)) if len(finite) > 1 else 0.0
        floor = 0.25 * self.voxel_mm if name in DISTANCE_SCORES else 1e-3 * max(abs(float(np.mean(finite))), 1e-3)
        return max(spread, floor)

    def _z(self, name: str, value):
        reference = self.healthy[name].numpy()
        finite = reference[np.isfinite(reference)]
        centre = float(np.mean(finite)) if len(finite) else 0.0
        value = np.asarray(value, dtype=np.float64)
        return np.where(np.isposinf(value), np.inf, (value - centre) / self._scale(name, finite))

    def _combine(self, scores: dict[str, np.ndarray]) -> np.ndarray:
        """Mean z-score of the combination's members (calibrated scores on one scale, then averaged)."""
        return np.mean([np.minimum(self._z(n, scores[n]), 50.0) for n in self.members], axis=0)

    def assess(self, row: dict, code, deviation_map=None) -> dict[str, float | bool]:
        """Reference scores, ``combined`` and, per calibrated score, ``<name>_z``, ``<name>_percentile`` and
        ``<name>_abnormal``; ``reference_subjects`` says how many healthy subjects they rest on."""
        if not self.ready:
            return {}
        out: dict[str, float | bool] = self.reference_scores(row, code, deviation_map)
        values = {**row, **out}
        out["combined"] = float(self._combine({n: values[n] for n in self.members}))
        values["combined"] = out["combined"]
        threshold = float(norm.ppf(self.level))
        for name in self.healthy:
            if name not in values:
                continue
            z = float(self._z(name, values[name]))
            reference = self.healthy[name].numpy()
            out[f"{name}_z"] = z
            out[f"{name}_percentile"] = float(100.0 * np.mean(reference < values[name]))
            out[f"{name}_abnormal"] = bool(z > threshold)
        out["reference_subjects"] = self.count
        return out

    def check_decision_score(self, name: str) -> None:
        if name not in self.healthy:
            raise SettingsError(
                f"--decision_score {name}: not a score this model is calibrated for; one of {sorted(self.healthy)}"
            )

    def thresholds(self) -> dict[str, float]:
        """Score values above which a subject is called abnormal at ``level``."""
        threshold = float(norm.ppf(self.level))
        out = {}
        for name, reference in self.healthy.items():
            finite = reference.numpy()[np.isfinite(reference.numpy())]
            out[name] = float(finite.mean() + threshold * self._scale(name, finite)) if len(finite) else float("nan")
        return out

    def describe(self) -> dict:
        """What the decisions rest on, for scores.json."""
        return {"level": self.level, "reference_subjects": self.count, "thresholds": self.thresholds()}

    def state_dict(self) -> dict:
        return {
            "level": self.level,
            "voxel_mm": self.voxel_mm,
            "latent_mean": self.latent_mean,
            "latent_precision": self.latent_precision,
            "latent_axes": self.latent_axes,
            "fit_centre": self.fit_centre,
            "fit_scale": self.fit_scale,
            "map_mean": self.map_mean,
            "map_scale": self.map_scale,
            "healthy": dict(self.healthy),
            "members": list(self.members),
        }

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        missing = {"level", "latent_mean", "latent_precision", "healthy"} - set(state)
        if missing and strict:
            raise KeyError(f"healthy reference state lacks {sorted(missing)}")
        self.level = self.level if self.fixed_level else float(state.get("level", self.level))
        self.voxel_mm = float(state.get("voxel_mm", self.voxel_mm))
        # scoring runs on the CPU: a checkpoint loaded with map_location="cuda" must not leave the reference there
        self.latent_mean = _on_cpu(state.get("latent_mean"))
        self.latent_precision = _on_cpu(state.get("latent_precision"))
        self.latent_axes = _on_cpu(state.get("latent_axes"))
        self.fit_centre, self.fit_scale = _on_cpu(state.get("fit_centre")), _on_cpu(state.get("fit_scale"))
        self.map_mean, self.map_scale = _on_cpu(state.get("map_mean")), _on_cpu(state.get("map_scale"))
        self.healthy = {k: _on_cpu(v) for k, v in (state.get("healthy") or {}).items()}
        self.members = tuple(state.get("members", LEGACY_MEMBERS))
