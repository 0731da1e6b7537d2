"""Every setting's type, declared once, and the one path that reads a value given on the command line as that type.

``python -m monai.bundle run`` hands the configs what fire makes of the command line: ``--residual false`` arrives as
the string ``"false"``, which Python reads as true, and ``--latent_dim 6.5`` as a float. The configs read every
declared setting through ``typed`` (the model settings' mapping, the run's on/off options), which turns each value into
its declared type or refuses it in one line naming the id and the value. ``None`` stays ``None``: the model's own.
"""

from __future__ import annotations

import ast
import math

from ..errors import InputError

ON = ("true", "yes", "on", "1")
OFF = ("false", "no", "off", "0")

# the model settings (``vocabulary.MODEL_SETTINGS``), by type
TYPES: dict[str, str] = {
    "label": "int",
    "orientation": "str",
    "target_spacing": "list[float]",
    "resample_mode": "str",
    "coordinate_scale": "float",
    "remove_islands": "bool",
    "latent_dim": "int",
    "hidden_dim": "int",
    "num_layers": "int",
    "inject_layers": "list[int]",
    "fourier_features": "int",
    "residual": "bool",
    "ensemble_size": "int",
    "fit_points": "int",
    "fit_points_per_iteration": "int",
    "fit_iterations": "int",
    "fit_lr": "float",
    "fit_restarts": "int",
    "fit_prior_weight": "float",
    "fit_patience": "int",
    "fit_min_improvement": "float",
    "fit_translation": "bool",
    "surface_fraction": "float",
    "observation": "str",
    "observation_step": "int",
    "observation_axis": "int",
    "observation_offsets_mm": "list[float]",
    "observation_thickness_mm": "float",
    "calibration_level": "float",
}
# the run's options that the configs read through ``typed`` (``switches`` in the configs)
OPTION_TYPES: dict[str, str] = {
    "resume": "resume",
    "bf16": "bool",
    "abnormal_axis": "bool",
    "mlflow_tracking": "bool",
    "allow_uncalibrated": "bool",
    "save_overlays": "bool",
    "save_meshes": "bool",
    "save_summary_page": "bool",
    "skip_invalid": "bool",
    "group_report": "bool",
    "scoring_workers": "int",
}
EXPECTED = {
    "bool": "true or false",
    "int": "a whole number",
    "float": "a number",
    "str": "a word",
    "list[int]": "a list of whole numbers such as [0,4]",
    "list[float]": "a list of numbers such as [1.0,1.0,1.0]",
    "resume": "true, false or strict",
}


class SettingTypeError(InputError):
    """A setting given a value of another type than its declared one; the message names the id and the value."""


def _refuse(name: str, kind: str, value) -> SettingTypeError:
    return SettingTypeError(f"--{name}: expected {EXPECTED[kind]}, got {value!r}")


def _scalar(name: str, kind: str, value, given):
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ON + OFF:
            return value.strip().lower() in ON
        raise _refuse(name, kind, given)
    if kind == "str":
        if isinstance(value, str) and value.strip():
            return value.strip()
        raise _refuse(name, kind, given)
    if isinstance(value, str):
        try:
            value = float(value.strip()) if kind == "float" else int(value.strip())
        except ValueError:
            raise _refuse(name, kind, given) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _refuse(name, kind, given)
    if kind == "int":
        if float(value) != int(value):
            raise _refuse(name, kind, given)
        return int(value)
    return float(value)


def coerce(name: str, value, kind: str | None = None):
    """``value`` of the setting ``name`` as its declared type (``TYPES``, ``OPTION_TYPES``), or one line refusing it."""
    kind = kind or TYPES.get(name) or OPTION_TYPES.get(name)
    if kind is None:
        raise KeyError(f"{name} has no declared type (settings.types)")
    if value is None:
        return None
    if kind == "resume":
        from ..records import resume_mode

        return resume_mode(value)
    if kind.startswith("list["):
        items = value
        if isinstance(value, str):
            try:
                items = ast.literal_eval(value.strip())
            except (ValueError, SyntaxError):
                raise _refuse(name, kind, value) from None
        if not isinstance(items, (list, tuple)) or not items:
            raise _refuse(name, kind, value)
        try:
            return [_scalar(name, kind[5:-1], item, value) for item in items]
        except SettingTypeError:
            raise _refuse(name, kind, value) from None
    return _scalar(name, kind, value, value)


def typed(**values) -> dict:
    """Every value read as its setting's declared type: what the configs' ``settings`` and ``switches`` hold.

    Args:
        values: setting or option ids (``TYPES``, ``OPTION_TYPES``) and the values the command line or config gave;
            an id with no declared type is refused in one line, as is a value that is not of its id's type.
    """
    return {name: coerce(name, value) for name, value in values.items()}
