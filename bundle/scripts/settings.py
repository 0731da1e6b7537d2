"""What a trained model means, stored in its checkpoint: the frame, the architecture and the fit it was calibrated with.

A decoder's weights are only meaningful with the frame its points were expressed in (label, resampling, orientation,
coordinate scale) and the architecture that holds them; its healthy reference is only valid for codes fitted the way
it was calibrated, from the same kind of observation (every voxel, or a few slices: ``observation.Observed``).
Training stores all of these with the weights (``ModelSettings``), and scoring (``settings_for_scoring``) builds its
network and chain from the checkpoint: a setting the user does not give is taken from the model, one that contradicts
it is refused, except fit and observation settings, which the user may change at the price of a calibration that no
longer holds (recorded in the outputs), or recalibrate the model for (configs/calibrate.json).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

from .errors import InputError

logger = logging.getLogger(__name__)

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
BUNDLE_ROOT = Path(__file__).resolve().parents[1]


class SettingsError(InputError):
    """Settings that contradict the model they are used with; the message names the setting and both values."""


def bundle_version() -> str:
    try:
        return str(json.loads((BUNDLE_ROOT / "configs" / "metadata.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "unknown"


def _migrated(values: dict) -> dict:
    """Settings written by earlier versions, in today's terms: before 0.5.0 every model was one decoder
    (``ensemble_size`` 1); before 0.5.1 its residual links and the fit's early stop were fixed (``residual`` true,
    ``fit_patience`` 50, ``fit_min_improvement`` 2e-3); before 0.4.0 sparse slices were ``sparse_step`` and
    ``sparse_axis``, the parallel mode now."""
    values = {"ensemble_size": 1, "residual": True, "fit_patience": 50, "fit_min_improvement": 2e-3, **values}
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


def _plain(value):
    """JSON-like value of a setting (tuples become lists, numbers stay numbers) for comparing and storing."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy or torch scalars
        return value.item()
    return value


def same(a, b) -> bool:
    """Whether two setting values mean the same (``1`` and ``1.0``, ``(1, 2)`` and ``[1, 2]`` do)."""
    a, b = _plain(a), _plain(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)), abs(float(b)))
    return a == b


class ModelSettings:
    """The settings of one model, with the versions that wrote it; a stateful object for ignite's ``Checkpoint``.

    Loading a state into an object that already holds values (resuming a training run) refuses a checkpoint made
    with other settings, naming the first one that differs, except those in ``may_change`` (the fit settings, when a
    model is recalibrated): this object's values are kept and win.

    Args:
        values: every one of ``MODEL_SETTINGS``; None or empty for an object a checkpoint's state is loaded into.
        source: what the settings come from (a run, a file), named in error messages.
        may_change: settings a loaded state may differ in without being refused.
        network, fitter: the decoder and ``LatentFitter``, whose ``architecture()`` and ``settings()`` override
            ``values``.

    Raises:
        ValueError: the settings, once the objects' are merged in, are not empty yet lack one of ``MODEL_SETTINGS``.
        SettingsError: on ``load_state_dict``, a state whose setting differs from this object's (not in ``may_change``).
    """

    def __init__(
        self,
        values: Mapping | None = None,
        source: str = "this run",
        may_change: tuple = (),
        network=None,
        fitter=None,
    ) -> None:
        values = dict(values or {})
        for part in (
            network.architecture() if network is not None else {},
            fitter.settings() if fitter is not None else {},
        ):
            values.update(part)  # what the objects really are wins over the ids (``--network_def#hidden_dim 64``)
        self.values: dict = {k: _plain(v) for k, v in values.items()}
        self.versions: dict = {}
        self.source, self.may_change = source, tuple(may_change)
        missing = [name for name in MODEL_SETTINGS if values and name not in self.values]
        if missing:
            raise ValueError(f"model settings lack {missing}")

    def __getitem__(self, name: str):
        return self.values[name]

    def state_dict(self) -> dict:
        import monai
        import torch

        versions = {"bundle": bundle_version(), "monai": monai.__version__, "torch": torch.__version__}
        return {"values": json.dumps(self.values), "versions": json.dumps(self.versions or versions)}

    def load_state_dict(self, state: Mapping, strict: bool = True) -> None:
        values, versions = _migrated(json.loads(state["values"])), json.loads(state.get("versions", "{}"))
        for name, value in self.values.items():
            if name in values and name not in self.may_change and not same(values[name], value):
                raise SettingsError(
                    f"{self.source}: {name} = {json.dumps(value)} contradicts the checkpoint, which was made with "
                    f"{name} = {json.dumps(values[name])}"
                )
        self.values, self.versions = {**values, **self.values}, versions


def training_defaults() -> dict:
    """The model settings ``configs/train.json`` declares: what a checkpoint without settings was trained with,
    unless the user says otherwise."""
    config = json.loads((BUNDLE_ROOT / "configs" / "train.json").read_text())
    return {name: config[name] for name in MODEL_SETTINGS if name in config}


def settings_for_scoring(
    ckpt_path: str,
    requested: Mapping,
    allow_uncalibrated: bool = False,
    defaults: Mapping | None = None,
) -> ModelSettings:
    """The settings a scoring run (inference, evaluation) must use with the model in ``ckpt_path``.

    ``requested`` holds the user's explicit choices (None where the user gave none). The label of the muscle in the
    user's files and the level of the decisions may differ from the model's (the healthy reference's samples serve
    any level). A frame or architecture setting
    that contradicts the checkpoint is refused with one line naming it and both values. A fit setting that does is
    refused too unless ``allow_uncalibrated``: then the run warns, uses it, and the returned settings record the
    change (``uncalibrated``), which scores.json reports. A checkpoint written before models carried their settings
    loads with a warning, using ``requested`` over ``defaults`` (by default, the values of configs/train.json).

    Args:
        ckpt_path: the model file.
        requested: every model setting (``MODEL_SETTINGS``), None where the user gave none.
        allow_uncalibrated: accept fit and observation settings that differ from the model's, with a warning.
        defaults: values for a checkpoint without settings; None reads configs/train.json.

    Returns:
        The model's settings with the accepted changes, ``uncalibrated`` recording the calibrated ones changed.

    Raises:
        ValueError: ``requested`` does not name exactly the model settings.
        CheckpointError: ``ckpt_path`` is missing or not a safe, readable checkpoint.
        SettingsError: a requested setting contradicts the model (see above).
    """
    from .checkpoints import load_checkpoint

    unknown, left_out = sorted(set(requested) - set(MODEL_SETTINGS)), sorted(set(MODEL_SETTINGS) - set(requested))
    if unknown or left_out:  # a config's mistake: a setting it cannot pass on would be ignored without a word
        raise ValueError(f"requested settings must name every model setting: unknown {unknown}, left out {left_out}")
    state = load_checkpoint(ckpt_path, map_location="cpu")
    given = {k: _plain(v) for k, v in requested.items() if v is not None}
    if "settings" not in state:
        logger.warning(
            "%s was written before models stored their settings: using the configs' values, which must be those it "
            "was trained with",
            ckpt_path,
        )
        defaults = training_defaults() if defaults is None else defaults
        settings = ModelSettings({**{k: defaults[k] for k in MODEL_SETTINGS}, **given}, source=str(ckpt_path))
        settings.versions = {"bundle": "unknown (no settings in checkpoint)"}
        settings.values["uncalibrated"] = {}
        return settings
    stored = ModelSettings(source=str(ckpt_path))
    stored.load_state_dict(state["settings"])
    changed = {}
    for name, value in given.items():
        if name not in stored.values or same(stored.values[name], value):
            continue
        if name in INPUT + CALIBRATION:  # the files being scored, the level of the decisions: the user's to choose
            stored.values[name] = value
            continue
        if name in CALIBRATED and allow_uncalibrated:
            changed[name] = {"model": stored.values[name], "used": value}
            continue
        hint = " (or pass --allow_uncalibrated true to accept a calibration that no longer holds)"
        if name in OBSERVATION:
            hint = (
                ", or calibrate the model for this observation first (configs/calibrate.json with the same settings), "
                "or pass --allow_uncalibrated true to accept a calibration that no longer holds"
            )
        elif name not in FIT:
            hint = ""
        raise SettingsError(
            f"{ckpt_path}: --{name} {json.dumps(value)} contradicts the model, which was trained and calibrated with "
            f"{name} = {json.dumps(stored.values[name])}; drop the override{hint}"
        )
    for name, change in changed.items():
        logger.warning(
            "%s = %s instead of %s: the healthy reference was calibrated with the model's fit settings, so the "
            "percentiles and decisions of this run no longer hold at the stated level",
            name,
            json.dumps(change["used"]),
            json.dumps(change["model"]),
        )
        stored.values[name] = change["used"]
    stored.values["uncalibrated"] = changed
    return stored
