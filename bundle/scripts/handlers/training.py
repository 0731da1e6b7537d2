"""Small Ignite handlers for training: loss warm-up and logging, final validation, progress, curves."""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import torch
from ignite.engine import Engine, Events
from ignite.handlers import ProgressBar
from ignite.metrics import Metric
from ignite.metrics.metric import reinit__is_reduced, sync_all_reduce

from ..networks.losses import AutoDecoderLoss
from ..runtime import interactive
from ..visualize import figures

logger = logging.getLogger(__name__)


class AutoDecoderLossHandler:
    """Feeds the epoch to the loss (code-regularisation warm-up) and publishes its parts as epoch metrics.

    Attach it before the handlers that report metrics (StatsHandler, MLFlowHandler): at the end of an epoch it
    writes the epoch means ``train_loss``, ``train_bce``, ``train_dice_loss``, ``train_code_reg``,
    ``train_code_norm`` and ``train_point_dice``.

    Args:
        loss: the trainer's loss, whose code weight it warms up (``set_epoch``) and whose ``last_parts`` it averages.
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


class EpochProgressBar(ProgressBar):
    """A progress bar over epochs (Ignite's default counts the iterations of one epoch), showing ``metric_names``.

    Drawn only on a terminal: in a log file, redrawn bars would leave fragments between the log lines.

    Args:
        metric_names: names in ``engine.state.metrics`` shown beside the bar; None shows none.
        kwargs: Ignite ``ProgressBar``'s (``persist``, ``bar_format``, tqdm options), except ``disable``, set here.
    """

    def __init__(self, metric_names: list[str] | None = None, **kwargs) -> None:
        super().__init__(disable=not interactive(), **kwargs)
        self.metric_names = metric_names

    def attach(self, engine: Engine, *args, **kwargs) -> None:
        super().attach(
            engine, self.metric_names, event_name=Events.EPOCH_COMPLETED, closing_event_name=Events.COMPLETED
        )


class SubjectProgressBar(ProgressBar):
    """Ignite's progress bar over the batches of subjects being scored, drawn only on a terminal.

    Args:
        kwargs: Ignite ``ProgressBar``'s (``bar_format``, tqdm options), except ``persist`` and ``disable``, set here.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(persist=True, disable=not interactive(), **kwargs)


class FinalValidationHandler:
    """Runs the validator once more when training ends between two validation epochs, so that the best
    checkpoint and the healthy reference always reflect the end of training.

    Args:
        validator: the validation evaluator to run.
        interval: the validation interval in epochs (``ValidationHandler``'s); a last epoch that is a multiple of it
            was validated already.
    """

    def __init__(self, validator: Engine, interval: int) -> None:
        self.validator, self.interval = validator, interval

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        if engine.state.epoch % self.interval != 0:
            self.validator.run(engine.state.epoch)


class TrainingCurvesHandler:
    """Plots the training losses and validation metrics per epoch to a PNG when training completes.

    Args:
        output_path: the PNG file written (``layout.training_curves``).
        validator: the validation evaluator whose numeric metrics are plotted too; None plots training's alone.
    """

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
        figures.training_curves(self.train, self.val, self.output_path)
        logger.info("training curves written to %s", self.output_path)


class MeanOf(Metric):
    """Mean of a per-subject number over a run (``output_transform`` gives the run's numbers for a batch), across
    ranks under torchrun; NaN when no subject was processed, as in a resumed run that had nothing left to do, where
    MONAI's metrics would fail on an empty buffer.

    Args:
        output_transform: maps the engine's output (a batch's decollated items) to that batch's numbers.
        device: where the running sum and count are kept; the other arguments are Ignite ``Metric``'s.
    """

    @reinit__is_reduced
    def reset(self) -> None:
        self._total = torch.tensor(0.0, dtype=torch.float64, device=self._device)
        self._count = torch.tensor(0, dtype=torch.int64, device=self._device)

    @reinit__is_reduced
    def update(self, values) -> None:
        values = torch.as_tensor(values, dtype=torch.float64, device=self._device).reshape(-1)
        self._total += values.sum()
        self._count += values.numel()

    @sync_all_reduce("_total", "_count")
    def compute(self) -> float:
        return float(self._total / self._count) if int(self._count) else float("nan")


class EveryEpochs:
    """``StatsHandler``'s ``epoch_log``: log every ``interval``-th epoch only.

    Args:
        interval: epochs between two log lines (at least 1).
    """

    def __init__(self, interval: int) -> None:
        self.interval = max(1, int(interval))

    def __call__(self, engine, epoch: int) -> bool:
        return epoch % self.interval == 0
