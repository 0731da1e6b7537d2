"""Small Ignite handlers for training: loss warm-up and logging, the healthy reference, final validation, curves."""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Engine, Events
from ignite.handlers import ProgressBar

from .files import atomic_path
from .losses import AutoDecoderLoss
from .networks import LatentTable
from .scoring import HealthyReference

logger = logging.getLogger(__name__)


class AutoDecoderLossHandler:
    """Feeds the epoch to the loss (code-regularisation warm-up) and publishes its parts as epoch metrics.

    Attach it before the handlers that report metrics (StatsHandler, MLFlowHandler): at the end of an epoch it
    writes the epoch means ``train_loss``, ``train_bce``, ``train_dice_loss``, ``train_code_reg``,
    ``train_code_norm`` and ``train_point_dice``.
    """

    def __init__(self, loss: AutoDecoderLoss) -> None:
        self.loss = loss
        self.sums: dict[str, float] = defaultdict(float)
        self.count = 0

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self.epoch_started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.iteration_completed)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.epoch_completed)

    def epoch_started(self, engine: Engine) -> None:
        self.loss.set_epoch(engine.state.epoch - 1)
        self.sums.clear()
        self.count = 0

    def iteration_completed(self, engine: Engine) -> None:
        for name, value in self.loss.last_parts.items():
            self.sums[name] += value
        self.count += 1

    def epoch_completed(self, engine: Engine) -> None:
        for name, total in self.sums.items():
            engine.state.metrics[f"train_{name}"] = total / max(self.count, 1)


class HealthyReferenceHandler:
    """Rebuilds the healthy reference from each validation run, before the checkpoint of that run is saved.

    The latent model is fitted on the current training codes; the score distributions are those of the
    validation subjects, fitted like new subjects (on every rank, when validation is distributed). Attach to the
    validator, before its BestModelSaver.
    """

    def __init__(self, reference: HealthyReference, latent_table: LatentTable, scores_key: str = "scores") -> None:
        self.reference, self.latent_table, self.scores_key = reference, latent_table, scores_key
        self.rows: list[dict] = []
        self.codes: list[torch.Tensor] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self.epoch_started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.iteration_completed)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.epoch_completed)

    def epoch_started(self, engine: Engine) -> None:
        self.rows, self.codes = [], []

    def iteration_completed(self, engine: Engine) -> None:
        for item in engine.state.output:
            self.rows.append(item[self.scores_key])
            self.codes.append(item["pred"]["code"].detach().cpu())

    def gathered(self) -> tuple[list[dict], list[torch.Tensor]]:
        """Rows and codes of every rank when validation is distributed (each rank fitted its share)."""
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return self.rows, self.codes
        shares: list = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(shares, (self.rows, self.codes))
        return [r for rows, _ in shares for r in rows], [c for _, codes in shares for c in codes]

    def epoch_completed(self, engine: Engine) -> None:
        rows, codes = self.gathered()
        if not rows:
            return
        self.reference.fit_latent(self.latent_table.codes.weight)
        latent = self.reference.latent_distance(torch.stack(codes))
        scores = {name: np.array([row[name] for row in rows]) for name in ("recon_score", "hd95_mm", "asd_mm")}
        self.reference.calibrate({**scores, "latent_distance": latent})
        engine.state.metrics["val_hd95_mm"] = float(np.mean(scores["hd95_mm"]))
        engine.state.metrics["val_latent_distance"] = float(np.mean(latent))


class EpochProgressBar(ProgressBar):
    """A progress bar over epochs (Ignite's default counts the iterations of one epoch), showing ``metric_names``."""

    def __init__(self, metric_names: list[str] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.metric_names = metric_names

    def attach(self, engine: Engine, *args, **kwargs) -> None:
        super().attach(
            engine, self.metric_names, event_name=Events.EPOCH_COMPLETED, closing_event_name=Events.COMPLETED
        )


class FinalValidationHandler:
    """Runs the validator once more when training ends between two validation epochs, so that the best
    checkpoint and the healthy reference always reflect the end of training."""

    def __init__(self, validator: Engine, interval: int) -> None:
        self.validator, self.interval = validator, interval

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        if engine.state.epoch % self.interval != 0:
            self.validator.run(engine.state.epoch)


class TrainingCurvesHandler:
    """Plots the training losses and validation metrics per epoch to a PNG when training completes."""

    def __init__(self, output_path: str, validator: Engine | None = None) -> None:
        self.output_path = Path(output_path)
        self.validator = validator
        self.train: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self.val: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self.trainer: Engine | None = None

    def attach(self, engine: Engine) -> None:
        self.trainer = engine
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.record_train)
        engine.add_event_handler(Events.COMPLETED, self.plot)
        if self.validator is not None:
            self.validator.add_event_handler(Events.COMPLETED, self.record_val)

    def record_train(self, engine: Engine) -> None:
        for name, value in engine.state.metrics.items():
            if isinstance(value, (int, float)):
                self.train[name].append((engine.state.epoch, float(value)))

    def record_val(self, validator: Engine) -> None:
        epoch = self.trainer.state.epoch if self.trainer is not None else validator.state.epoch
        for name, value in validator.state.metrics.items():
            if isinstance(value, (int, float)):
                self.val[name].append((epoch, float(value)))

    def plot(self, engine: Engine) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (loss_ax, val_ax) = plt.subplots(1, 2, figsize=(11, 4))
        for name in ("train_bce", "train_dice_loss", "train_code_reg"):
            if self.train.get(name):
                epochs, values = zip(*self.train[name], strict=True)
                loss_ax.semilogy(epochs, values, label=name)
        loss_ax.set(xlabel="epoch", title="training loss parts")
        for name in ("train_point_dice", "val_mean_dice"):
            series = self.train.get(name) or self.val.get(name)
            if series:
                epochs, values = zip(*series, strict=True)
                val_ax.plot(epochs, values, marker="o" if name.startswith("val") else None, label=name)
        val_ax.set(xlabel="epoch", ylabel="Dice", title="training (points) and validation (volumes) Dice")
        for ax in (loss_ax, val_ax):
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend()
        fig.tight_layout()
        with atomic_path(self.output_path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
        plt.close(fig)
        logger.info("training curves written to %s", self.output_path)
