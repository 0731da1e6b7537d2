"""The model settings by kind: what each one says about a model decides who may change it and how.

The kinds: the input (which label is the muscle: the user's to choose), the frame and the architecture (fixed by the
weights), the fit and the observation (fixed by the calibration, changed only by recalibrating) and the level of the
decisions (the user's to choose). ``same`` compares two values of a setting as they mean, ``migrated`` reads the
settings older versions wrote.
"""

from __future__ import annotations

from ..errors import InputError

INPUT = ("label",)  # which value of the user's files is the muscle: the model's by default, free to change
FRAME = (
    "orientation",
    "target_spacing",
    "resample_mode",
    "coordinate_scale",
    "remove_islands",
)
ARCHITECTURE = (
    "latent_dim",
    "hidden_dim",
    "num_layers",
    "inject_layers",
    "fourier_features",
    "residual",
    "ensemble_size",
)
FIT = (
    "fit_points",
    "fit_points_per_iteration",
    "fit_iterations",
    "fit_lr",
    "fit_restarts",
    "fit_prior_weight",
    "fit_patience",
    "fit_min_improvement",
    "fit_translation",
    "surface_fraction",
)
OBSERVATION = (
    "observation",
    "observation_step",
    "observation_axis",
    "observation_offsets_mm",
    "observation_thickness_mm",
)
CALIBRATED = FIT + OBSERVATION  # what the healthy reference holds for: changed only by recalibrating
CALIBRATION = ("calibration_level",)
MODEL_SETTINGS = INPUT + FRAME + ARCHITECTURE + FIT + OBSERVATION + CALIBRATION


class SettingsError(InputError):
    """Settings that contradict the model they are used with; the message names the setting and both values."""


def migrated(values: dict) -> dict:
    """Settings written by earlier versions, in today's terms: before 0.5.0 every model was one decoder
    (``ensemble_size`` 1); before 0.5.1 its residual links and the fit's early stop were fixed (``residual`` true,
    ``fit_patience`` 50, ``fit_min_improvement`` 2e-3); before 0.4.0 sparse slices were ``sparse_step`` and
    ``sparse_axis``, the parallel mode now; before 0.8.2 no fit moved a partial observation (``fit_translation``
    false)."""
    earlier = {"ensemble_size": 1, "residual": True, "fit_patience": 50, "fit_min_improvement": 2e-3}
    values = {**earlier, "fit_translation": False, **values}
    if "observation" in values or "sparse_step" not in values:
        return values
    step, axis = int(values.pop("sparse_step")), int(values.pop("sparse_axis", 2))
    values.update(
        observation="full" if step == 1 else "parallel",
        observation_step=step,
        observation_axis=axis,
        observation_offsets_mm=[0.0],
        observation_thickness_mm=float(step),
    )
    return values


def plain(value):
    """JSON-like value of a setting (tuples become lists, numbers stay numbers) for comparing and storing."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy or torch scalars
        return value.item()
    return value


def same(a, b) -> bool:
    """Whether two setting values mean the same (``1`` and ``1.0``, ``(1, 2)`` and ``[1, 2]`` do)."""
    a, b = plain(a), plain(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)), abs(float(b)))
    return a == b
