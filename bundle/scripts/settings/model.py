"""``ModelSettings``: the settings of one trained model, stored in its checkpoint with the versions that wrote it."""

from __future__ import annotations

import json
from collections.abc import Mapping

from ..configs import bundle_version
from .vocabulary import MODEL_SETTINGS, SettingsError, migrated, plain, same


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
        self.values: dict = {k: plain(v) for k, v in values.items()}
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
        values, versions = migrated(json.loads(state["values"])), json.loads(state.get("versions", "{}"))
        for name, value in self.values.items():
            if name in values and name not in self.may_change and not same(values[name], value):
                raise SettingsError(
                    f"{self.source}: {name} = {json.dumps(value)} contradicts the checkpoint, which was made with "
                    f"{name} = {json.dumps(values[name])}"
                )
        self.values, self.versions = {**values, **self.values}, versions
