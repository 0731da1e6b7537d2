"""What healthy subjects look like, piece by piece: their codes, and quantities measured region by region.

``LatentNorm`` models the healthy codes: the shrinkage Gaussian of the training codes (the fit's prior), their
principal axes, and where healthy subjects *fitted like new ones* lie along them (the latent distance). ``RegionalNorm``
holds, per region of a shape (a cell of the deviation map, a section along the long axis), the healthy mean and spread
of a measurement, so that a subject's measurement becomes a map of z-scores and the few regions furthest in one
direction make a one-sided regional score. Both store only tensors, so that checkpoints load with
``weights_only=True``; ``scoring.HealthyReference`` puts them together.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.covariance import LedoitWolf

LATENT_AXES = 10  # principal axes of the healthy codes along which the latent distance is measured


def on_cpu(value) -> torch.Tensor | None:
    return None if value is None else torch.as_tensor(value).detach().cpu()


def _array(codes, width: int | None = None) -> np.ndarray:
    values = np.asarray(torch.as_tensor(codes).detach().cpu(), dtype=np.float64)
    return values.reshape(-1, width) if width else values


class LatentNorm:
    """Healthy codes: the fit's prior (``mean``, ``precision``), their principal ``axes``, and the centre and spread
    of healthy fitted codes along them (``fit_centre``, ``fit_scale``)."""

    KEYS = {  # attribute -> key in the reference's state dict
        "mean": "latent_mean",
        "precision": "latent_precision",
        "axes": "latent_axes",
        "fit_centre": "fit_centre",
        "fit_scale": "fit_scale",
    }

    def __init__(self) -> None:
        self.mean = self.precision = self.axes = self.fit_centre = self.fit_scale = None

    def fit(self, codes) -> None:
        """The training codes' Ledoit-Wolf Gaussian and principal axes; the fitted-code reference is reset."""
        codes = _array(codes)
        estimator = LedoitWolf().fit(codes)
        self.mean, self.precision = torch.from_numpy(estimator.location_), torch.from_numpy(estimator.precision_)
        _, _, axes = np.linalg.svd(codes - codes.mean(axis=0), full_matrices=False)
        self.axes = torch.from_numpy(axes[: min(LATENT_AXES, len(axes))].copy())
        self.fit_centre = self.fit_scale = None

    def project(self, codes) -> np.ndarray:
        """Codes along the principal axes, from the prior's mean."""
        return (_array(codes, self.mean.numel()) - self.mean.numpy()) @ self.axes.numpy().T

    def fit_reference(self, codes) -> None:
        """Where healthy subjects fitted like new ones lie along the axes: test-time codes are not distributed like
        the codes learned in training, so distances are measured against them."""
        projected = self.project(codes)
        self.fit_centre = torch.from_numpy(projected.mean(axis=0))
        spread = projected.std(axis=0, ddof=1) if len(projected) > 1 else np.zeros(projected.shape[1])
        self.fit_scale = torch.from_numpy(np.maximum(spread, 1e-6))

    def distance(self, codes) -> np.ndarray:
        """Distance of fitted codes from healthy fitted codes along the principal axes (standardised per axis); a
        reference without them (an old model file) uses the Mahalanobis distance to the training codes."""
        if self.mean is None:
            raise RuntimeError("the healthy reference has no latent model; fit it first")
        if self.fit_centre is None:
            diff = _array(codes, self.mean.numel()) - self.mean.numpy()
            return np.sqrt(np.clip(np.einsum("nd,de,ne->n", diff, self.precision.numpy(), diff), 0.0, None))
        z = (self.project(codes) - self.fit_centre.numpy()) / self.fit_scale.numpy()
        return np.sqrt((z**2).sum(axis=1))

    def state_dict(self) -> dict:
        return {key: getattr(self, name) for name, key in self.KEYS.items()}

    def load_state_dict(self, state: dict) -> None:
        for name, key in self.KEYS.items():
            setattr(self, name, on_cpu(state.get(key)))


class RegionalNorm:
    """Per-region healthy mean and spread of one measurement (spread floored at ``floor``), under ``prefix`` in a
    state dict. Regions no healthy subject measured stay neutral (z = 0)."""

    def __init__(self, prefix: str, floor: float) -> None:
        self.prefix, self.floor = prefix, floor
        self.mean: torch.Tensor | None = None
        self.scale: torch.Tensor | None = None

    @property
    def ready(self) -> bool:
        return self.mean is not None

    def fit(self, samples) -> None:
        stack = np.stack([np.asarray(s, dtype=np.float64) for s in samples])
        with warnings.catch_warnings():  # regions no healthy subject measured stay NaN, then neutral
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(stack, axis=0)
            scale = np.nanstd(stack, axis=0, ddof=1) if len(stack) > 1 else np.zeros_like(mean)
        self.mean = torch.from_numpy(np.nan_to_num(mean, nan=0.0))
        self.scale = torch.from_numpy(np.maximum(np.nan_to_num(scale, nan=0.0), self.floor))

    def z(self, values) -> np.ndarray:
        """The measurement as z-scores region by region (0 where it was not measured)."""
        z = (np.asarray(values, dtype=np.float64) - self.mean.numpy()) / self.scale.numpy()
        return np.nan_to_num(z, nan=0.0)

    def lowest(self, values, count: int) -> float:
        """One-sided regional score: the mean of the ``count`` largest negative z-scores (as positive numbers)."""
        below = np.sort(-self.z(values).ravel())
        return float(below[-count:].mean())

    def vertex_z(self, deviation) -> np.ndarray:
        """Each vertex of a ``deviation.SurfaceDeviation`` as a z-score against healthy subjects in its cell of the
        map (this norm holding deviation maps)."""
        from .deviation import cells

        cell = cells(deviation.surface.vertices, deviation.frame, tuple(self.mean.shape))
        mean, scale = self.mean.numpy().ravel()[cell], self.scale.numpy().ravel()[cell]
        return (np.asarray(deviation.deviation, dtype=np.float64) - mean) / scale

    def state_dict(self) -> dict:
        return {f"{self.prefix}_mean": self.mean, f"{self.prefix}_scale": self.scale}

    def load_state_dict(self, state: dict) -> None:
        self.mean, self.scale = on_cpu(state.get(f"{self.prefix}_mean")), on_cpu(state.get(f"{self.prefix}_scale"))
