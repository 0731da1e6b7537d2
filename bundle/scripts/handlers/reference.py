"""The handler that rebuilds a model's healthy reference (and its abnormal axis) each time validation fits subjects."""

from __future__ import annotations

import logging

import numpy as np
import torch
from ignite.engine import Engine, Events

from ..data.datalist import CALIBRATION, is_healthy
from ..networks.auto_decoder import LatentTable
from ..scoring.axis import AbnormalAxis
from ..scoring.reference import HealthyReference

logger = logging.getLogger(__name__)


class HealthyReferenceHandler:
    """Rebuilds the healthy reference with each validation run, before the checkpoint of that run is saved.

    When validation starts, the latent model (the fit's prior) is refitted to the current training codes; when it
    ends, the validation subjects, fitted like new subjects (on every rank, when validation is distributed), calibrate
    the scores, the normative deviation maps and the flattening profiles. When validation also fitted subjects for the
    abnormal axis (``role`` "axis", see ``datalist.validation_items``), the axis is learned from the codes of every
    healthy and every labelled abnormal subject fitted; otherwise the reference has no axis. Attach to the validator,
    before its BestModelSaver.

    Args:
        reference: the healthy reference to refit and recalibrate (saved with the model).
        latent_table: the training codes, to which the latent prior is refitted.
        scores_key, map_key, profile_key: where each validation item holds its scores row, deviation map and
            flattening profile.
        axis_method: how the abnormal axis is learned (``axis.METHODS``).
        source: what the subjects come from (e.g. the datalist), named in error messages about the axis.

    Raises:
        AxisError: when validation ends with labelled abnormal subjects but an unknown ``axis_method``, or too few
            subjects for the axis.
    """

    def __init__(
        self,
        reference: HealthyReference,
        latent_table: LatentTable,
        scores_key: str = "scores",
        map_key: str = "deviation_map",
        profile_key: str = "flattening_profile",
        axis_method: str = "auto",
        source: str = "the validation subjects",
    ) -> None:
        self.reference, self.latent_table = reference, latent_table
        self.axis_method, self.source = axis_method, source
        self.scores_key, self.map_key, self.profile_key = scores_key, map_key, profile_key
        self.rows: list[dict] = []
        self.codes: list[torch.Tensor] = []
        self.maps: list[np.ndarray] = []
        self.profiles: list[np.ndarray] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self.epoch_started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.iteration_completed)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.epoch_completed)

    def epoch_started(self, engine: Engine) -> None:
        self.rows, self.codes, self.maps, self.profiles = [], [], [], []
        self.reference.latent.fit(self.latent_table.vectors)

    def iteration_completed(self, engine: Engine) -> None:
        for item in engine.state.output:
            self.rows.append(item[self.scores_key])
            self.codes.append(item["pred"]["code"].detach().cpu())
            self.maps.append(item.get(self.map_key))  # None for a subject fitted for the axis alone
            self.profiles.append(item.get(self.profile_key))

    def gathered(self) -> tuple[list[dict], list[torch.Tensor], list[np.ndarray], list[np.ndarray]]:
        """Rows, codes, maps and profiles of every rank when validation is distributed (each rank fitted its share)."""
        mine = (self.rows, self.codes, self.maps, self.profiles)
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return mine
        shares: list = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(shares, mine)
        return tuple([x for share in shares for x in share[k]] for k in range(len(mine)))

    def epoch_completed(self, engine: Engine) -> None:
        rows, codes, maps, profiles = self.gathered()
        if not rows:
            return
        calibration = [i for i, row in enumerate(rows) if row.get("role", CALIBRATION) == CALIBRATION]
        self.reference.calibrate_on(*([part[i] for i in calibration] for part in (rows, codes, maps, profiles)))
        self.learn_axis(rows, codes)
        healthy = self.reference.scores.healthy
        for name in ("hd95_mm", "latent_distance", "regional_atrophy", "regional_flattening"):
            if name in healthy:
                engine.state.metrics[f"val_{name}"] = float(healthy[name].mean())

    def learn_axis(self, rows: list[dict], codes: list[torch.Tensor]) -> None:
        """The abnormal axis from every healthy and labelled abnormal subject fitted, when any was labelled."""
        abnormal = [c for row, c in zip(rows, codes, strict=True) if not is_healthy(row)]
        if not abnormal:
            self.reference.axis = AbnormalAxis()
            return
        healthy = [c for row, c in zip(rows, codes, strict=True) if is_healthy(row)]
        self.reference.axis.learn(torch.stack(healthy), torch.stack(abnormal), self.axis_method, self.source)
        logger.info("abnormal axis learned from %d labelled and %d healthy subjects", len(abnormal), len(healthy))
