"""One ensemble model from members trained separately: ``python -m scripts ensemble``.

Members are models of this bundle trained on the same healthy subjects with different seeds (``configs/train.json``
``--seed``). Their decoders become one ``ensemble.DecoderEnsemble`` and their codes one latent table (each subject's
members' codes side by side); the ensemble is then calibrated as a whole on healthy subjects
(``configs/calibrate.json``), since its reconstruction is the members' mean occupancy, not any member's. A member that
was made for another frame, architecture, fit or observation, or trained on other subjects, is refused with one line
naming the file and the setting.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import torch

from .checkpoints import load_checkpoint
from .data.files import atomic_path
from .networks.auto_decoder import LatentTable
from .networks.ensemble import DecoderEnsemble
from .settings import ARCHITECTURE, CALIBRATED, FRAME, INPUT, ModelSettings, SettingsError, same

logger = logging.getLogger(__name__)
SHARED = INPUT + FRAME + ARCHITECTURE + CALIBRATED  # what every member of an ensemble must have in common


def member_settings(path: str | Path) -> tuple[dict, dict]:
    """A member's stored state and its settings (as a dict)."""
    state = load_checkpoint(path, map_location="cpu")
    if "settings" not in state or "network_def" not in state or "latent_table" not in state:
        raise SettingsError(f"{path}: not a model of this bundle that records its settings (a model.pt of 0.3.0 on)")
    settings = ModelSettings(source=str(path))
    settings.load_state_dict(state["settings"])
    return state, settings.values


def check_members(paths: Sequence[str | Path]) -> tuple[list[dict], dict]:
    """The members' states and their common settings; refuses (one line) members that cannot form one ensemble."""
    if len(paths) < 2:
        raise SettingsError(f"an ensemble needs at least 2 member models, got {len(paths)}")
    states, first = [], None
    for path in paths:
        state, values = member_settings(path)
        if values["ensemble_size"] != 1:
            raise SettingsError(f"{path}: already an ensemble of {values['ensemble_size']}; give its members instead")
        if first is None:
            first, reference_ids = values, LatentTable.from_state_dict(state["latent_table"]).case_ids
        for name in SHARED:
            if not same(values.get(name), first.get(name)):
                raise SettingsError(
                    f"{path}: {name} = {json.dumps(values.get(name))} differs from {paths[0]}'s "
                    f"{json.dumps(first.get(name))}; the members of an ensemble share their frame, architecture, fit "
                    "and observation"
                )
        if LatentTable.from_state_dict(state["latent_table"]).case_ids != reference_ids:
            raise SettingsError(f"{path}: trained on other subjects than {paths[0]}; members share their training set")
        states.append(state)
    return states, first


def assemble(paths: Sequence[str | Path], output: str | Path) -> Path:
    """Write the (uncalibrated) ensemble of the members in ``paths`` to ``output``; returns its path.

    Args:
        paths: the members' model files, in the order of their part of each code.
        output: the ensemble's model file (written atomically).

    Returns:
        ``output``, holding the ensemble's settings, decoder and latent table; calibrate it before scoring.

    Raises:
        SettingsError: members that differ in a setting they must share, or were trained on other subjects.
    """
    states, values = check_members(paths)
    architecture = {k: values[k] for k in ARCHITECTURE if k != "ensemble_size"}
    decoder = DecoderEnsemble(len(states), **architecture)
    for member, state in zip(decoder.members, states, strict=True):
        member.load_state_dict(state["network_def"])
    tables = [LatentTable.from_state_dict(state["latent_table"]) for state in states]
    table = LatentTable(len(tables[0].case_ids), values["latent_dim"], tables[0].case_ids, members=len(tables))
    with torch.no_grad():
        table.codes.weight.copy_(torch.cat([t.vectors for t in tables], dim=1))
    settings = ModelSettings({**values, "ensemble_size": len(states)}, source=f"ensemble of {len(states)} members")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(output) as tmp:
        torch.save(
            {
                "settings": settings.state_dict(),
                "network_def": decoder.state_dict(),
                "latent_table": table.state_dict(),
            },
            tmp,
        )
    logger.info("ensemble of %d members written to %s", len(states), output)
    return output


def calibration_overrides(ensemble_path: str | Path) -> dict:
    """The config ids that rebuild an assembled ensemble in ``configs/calibrate.json``: its stored settings."""
    _, values = member_settings(ensemble_path)
    return {name: values[name] for name in SHARED if name in values}


def build_ensemble(members: list[str], dataset_dir: str, ckpt_dir: str, fold: int = 0, **overrides) -> Path:
    """Assemble ``members`` into one model and calibrate it on the healthy subjects of ``dataset_dir``
    (``configs/calibrate.json``); returns the ensemble's model file in ``ckpt_dir``."""
    from .layout import assembled_file, model_file, tracking_db
    from .study.workflows import run_workflow
    from .tracking import sqlite_tracking_uri

    dataset_dir, ckpt_dir = Path(dataset_dir).resolve(), Path(ckpt_dir).resolve()  # the workflow runs in the bundle
    assembled = assemble(members, assembled_file(ckpt_dir))
    uri = overrides.pop("tracking_uri", None) or sqlite_tracking_uri(tracking_db(ckpt_dir))
    settings = {**calibration_overrides(assembled), **overrides}
    run_workflow(
        ["train.json", "calibrate.json"],
        "train",
        source_ckpt=str(assembled),
        dataset_dir=str(dataset_dir),
        fold=fold,
        ckpt_dir=str(ckpt_dir),
        output_dir=str(ckpt_dir),
        tracking_uri=uri,
        **settings,
    )
    assembled.unlink()
    return Path(model_file(ckpt_dir))
