"""Whether a subject's fit lies inside what the model knows, apart from whether the subject looks abnormal.

A model knows the muscles of its healthy cohort: their size, how well its decoder fits them, where their codes lie. A
muscle twice that size, or a shape the decoder cannot follow, may still be reconstructed well and called normal, but
its scores rest on extrapolation. Against the healthy calibration subjects, each measure of ``MEASURES`` gets a
z-score; a subject beyond the predictive ``level`` quantile (``calibration.decision_threshold``; both sides for the
size) is flagged ``out_of_distribution``, with the reasons in words. The flag is not the anomaly decision: an abnormal
muscle may lie inside the known range and a normal one outside it.
"""

from __future__ import annotations

import numpy as np
import torch

from .calibration import decision_threshold

# measure -> (row field, log scale, both sides, words)
MEASURES = {
    "volume": ("volume_input_ml", True, True, "volume {value:.4g} ml"),
    "fit_loss": ("fit_loss", False, False, "fit loss {value:.3g}"),
    "latent_distance": ("latent_distance", False, False, "latent distance {value:.3g}"),
}
PREFIX = "domain_"


class KnownRange:
    """Healthy calibration subjects' values of ``MEASURES`` and what a new subject's values say against them.

    Args:
        level: the predictive level beyond which a measure lies outside the known range (per side for the volume).
    """

    def __init__(self, level: float = 0.999) -> None:
        if not 0.5 < level < 1.0:
            raise ValueError(f"the out-of-distribution level must lie in (0.5, 1), got {level}")
        self.level = float(level)
        self.healthy: dict[str, torch.Tensor] = {}

    @property
    def ready(self) -> bool:
        return bool(self.healthy)

    def store(self, rows: list[dict]) -> None:
        """Keep the healthy calibration subjects' values of every measure all rows hold."""
        self.healthy = {}
        for name, (field, log, _, _) in MEASURES.items():
            values = [float(r[field]) for r in rows if field in r]
            if len(values) == len(rows) and values:
                values = np.log(np.maximum(values, 1e-12)) if log else np.asarray(values)
                self.healthy[name] = torch.as_tensor(np.asarray(values, dtype=np.float64))

    def assess(self, row: dict) -> dict[str, bool | str]:
        """``out_of_distribution`` and ``ood_reasons`` ("" when inside) for a subject's row of raw scores."""
        if not self.ready:
            return {}
        reasons = []
        for name, values in self.healthy.items():
            field, log, both, words = MEASURES[name]
            if field not in row:
                continue
            value = float(row[field])
            healthy = values.numpy()
            finite = healthy[np.isfinite(healthy)]
            if len(finite) < 2:
                continue
            measured = np.log(max(value, 1e-12)) if log else value
            spread = max(float(finite.std(ddof=1)), 1e-9)
            z = (measured - float(finite.mean())) / spread if np.isfinite(measured) else np.inf
            cut = decision_threshold(0.5 + self.level / 2 if both else self.level, len(finite))
            if z > cut or (both and z < -cut):
                side = "above" if z > 0 else "below"
                reasons.append(f"{words.format(value=value)} {side} the healthy range (z {z:.1f})")
        return {"out_of_distribution": bool(reasons), "ood_reasons": "; ".join(reasons)}

    def describe(self) -> dict:
        return {"level": self.level, "measures": sorted(self.healthy)}

    def state_dict(self) -> dict:
        return {f"{PREFIX}{name}": values for name, values in self.healthy.items()}

    def load_state_dict(self, state: dict) -> None:
        self.healthy = {
            key[len(PREFIX) :]: torch.as_tensor(value).detach().cpu()
            for key, value in state.items()
            if key.startswith(PREFIX) and key[len(PREFIX) :] in MEASURES
        }
