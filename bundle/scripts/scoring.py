"""Per-subject metrics, anomaly scores and their calibration against the healthy reference stored with the model.

Scores (higher = more abnormal):

- ``recon_score``: 1 - Dice between the input and its reconstruction (the published score);
- ``hd95_mm`` and ``asd_mm``: surface-distance variants of the reconstruction error;
- ``latent_distance``: Mahalanobis distance of the fitted code from the healthy training codes (Ledoit-Wolf
  shrinkage covariance, since there are fewer subjects than code dimensions);
- ``combined``: mean of the z-scores of ``recon_score`` and ``latent_distance``.

Calibration: each score is compared with the same score on healthy *validation* subjects fitted exactly like a new
subject. A subject gets, per score, a z-score, its percentile among the healthy reference, and ``abnormal`` when the
score exceeds the reference's ``level`` quantile under a normal model of the healthy scores.
"""

from __future__ import annotations

import numpy as np
import torch
from monai.metrics import compute_average_surface_distance, compute_dice, compute_hausdorff_distance
from scipy.stats import norm
from sklearn.covariance import LedoitWolf

from .geometry import voxel_spacing

CALIBRATED_SCORES = ("recon_score", "hd95_mm", "asd_mm", "latent_distance", "combined")


def reconstruction_metrics(mask: torch.Tensor, recon: torch.Tensor, affine) -> dict[str, float]:
    """Dice, HD95, Hausdorff, average symmetric surface distance (mm) and volumes (ml) on the input's grid."""
    spacing = voxel_spacing(affine)
    voxel_ml = float(abs(np.linalg.det(np.asarray(affine, dtype=np.float64)[:3, :3]))) / 1000.0
    y, y_pred = torch.as_tensor(mask).bool()[None, None], torch.as_tensor(recon).bool()[None, None]
    volume_in, volume_out = float(y.sum()) * voxel_ml, float(y_pred.sum()) * voxel_ml
    metrics = {"dice": float(compute_dice(y_pred, y, include_background=True, ignore_empty=False)[0, 0])}
    if y_pred.any():
        spacing_list = spacing.tolist()
        metrics["hd95_mm"] = float(compute_hausdorff_distance(y_pred, y, percentile=95, spacing=spacing_list)[0, 0])
        metrics["hausdorff_mm"] = float(compute_hausdorff_distance(y_pred, y, spacing=spacing_list)[0, 0])
        metrics["asd_mm"] = float(
            compute_average_surface_distance(y_pred, y, symmetric=True, spacing=spacing_list)[0, 0]
        )
    else:  # nothing reconstructed: the distances are undefined, the shape is as far as it can be
        metrics.update(hd95_mm=float("inf"), hausdorff_mm=float("inf"), asd_mm=float("inf"))
    metrics.update(
        volume_input_ml=volume_in,
        volume_recon_ml=volume_out,
        volume_error_ml=volume_out - volume_in,
        volume_error_pct=100.0 * (volume_out - volume_in) / volume_in,
    )
    return metrics


class HealthyReference:
    """What "healthy" looks like for one trained model: the codes' distribution and the scores' distributions.

    ``state_dict`` holds only tensors, numbers and strings, so that checkpoints load with ``weights_only=True``.
    """

    def __init__(self, level: float = 0.95) -> None:
        self.level = level
        self.latent_mean: torch.Tensor | None = None
        self.latent_precision: torch.Tensor | None = None
        self.healthy: dict[str, torch.Tensor] = {}

    @property
    def ready(self) -> bool:
        return self.latent_mean is not None and bool(self.healthy)

    def fit_latent(self, train_codes) -> None:
        codes = np.asarray(torch.as_tensor(train_codes).detach().cpu(), dtype=np.float64)
        estimator = LedoitWolf().fit(codes)
        self.latent_mean = torch.from_numpy(estimator.location_)
        self.latent_precision = torch.from_numpy(estimator.precision_)

    def latent_distance(self, codes) -> np.ndarray:
        if self.latent_mean is None:
            raise RuntimeError("the healthy reference has no latent model; fit_latent() first")
        diff = torch.as_tensor(codes).detach().cpu().to(torch.float64).reshape(-1, self.latent_mean.numel())
        diff = diff - self.latent_mean
        return torch.sqrt(torch.einsum("nd,de,ne->n", diff, self.latent_precision, diff).clamp_min(0)).numpy()

    def calibrate(self, healthy_scores: dict[str, np.ndarray]) -> None:
        """Store the healthy validation subjects' scores (``combined`` is derived here)."""
        self.healthy = {k: torch.as_tensor(np.asarray(v, dtype=np.float64)) for k, v in healthy_scores.items()}
        recon_z = self._z("recon_score", self.healthy["recon_score"].numpy())
        latent_z = self._z("latent_distance", self.healthy["latent_distance"].numpy())
        self.healthy["combined"] = torch.as_tensor(0.5 * (recon_z + latent_z))

    def _z(self, name: str, value):
        reference = self.healthy[name].numpy()
        finite = reference[np.isfinite(reference)]
        scale = finite.std(ddof=1) if len(finite) > 1 else 0.0
        return (np.asarray(value, dtype=np.float64) - finite.mean()) / max(scale, 1e-12)

    def assess(self, scores: dict[str, float]) -> dict[str, float | bool]:
        """Add ``combined`` and, per calibrated score, ``<name>_z``, ``<name>_percentile``, ``<name>_abnormal``."""
        if not self.ready:
            return {}
        out: dict[str, float | bool] = {}
        out["combined"] = float(
            0.5
            * (self._z("recon_score", scores["recon_score"]) + self._z("latent_distance", scores["latent_distance"]))
        )
        threshold = float(norm.ppf(self.level))
        for name in CALIBRATED_SCORES:
            value = out["combined"] if name == "combined" else scores[name]
            z = float(self._z(name, value))
            reference = self.healthy[name].numpy()
            out[f"{name}_z"] = z
            out[f"{name}_percentile"] = float(100.0 * np.mean(reference < value))
            out[f"{name}_abnormal"] = bool(z > threshold)
        return out

    def thresholds(self) -> dict[str, float]:
        """Score values above which a subject is called abnormal at ``level``."""
        threshold = float(norm.ppf(self.level))
        out = {}
        for name, reference in self.healthy.items():
            finite = reference.numpy()[np.isfinite(reference.numpy())]
            out[name] = float(finite.mean() + threshold * finite.std(ddof=1)) if len(finite) > 1 else float("nan")
        return out

    def state_dict(self) -> dict:
        return {
            "level": float(self.level),
            "latent_mean": self.latent_mean,
            "latent_precision": self.latent_precision,
            "healthy": dict(self.healthy),
        }

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        missing = {"level", "latent_mean", "latent_precision", "healthy"} - set(state)
        if missing and strict:
            raise KeyError(f"healthy reference state lacks {sorted(missing)}")
        self.level = float(state.get("level", self.level))
        self.latent_mean = state.get("latent_mean")
        self.latent_precision = state.get("latent_precision")
        self.healthy = {k: torch.as_tensor(v) for k, v in (state.get("healthy") or {}).items()}
