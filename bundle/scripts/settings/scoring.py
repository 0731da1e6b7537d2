"""The settings a scoring run uses with a model: the model's own, with the user's explicit and compatible choices."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from .model import ModelSettings
from .vocabulary import CALIBRATED, CALIBRATION, FIT, INPUT, MODEL_SETTINGS, OBSERVATION, SettingsError, plain, same

logger = logging.getLogger(__name__)


def training_defaults() -> dict:
    """The model settings ``configs/train.json`` declares: what a checkpoint without settings was trained with,
    unless the user says otherwise."""
    from ..configs import training_defaults as declared

    return declared(MODEL_SETTINGS)


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
    from ..checkpoints import load_checkpoint

    unknown, left_out = sorted(set(requested) - set(MODEL_SETTINGS)), sorted(set(MODEL_SETTINGS) - set(requested))
    if unknown or left_out:  # a config's mistake: a setting it cannot pass on would be ignored without a word
        raise ValueError(f"requested settings must name every model setting: unknown {unknown}, left out {left_out}")
    state = load_checkpoint(ckpt_path, map_location="cpu")
    given = {k: plain(v) for k, v in requested.items() if v is not None}
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
