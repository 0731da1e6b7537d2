"""Checkpoints that survive a killed run: Ignite/MONAI checkpoint handlers writing through a temporary file.

MONAI's ``CheckpointSaver`` writes in place (``atomic=False``), so a kill during a save leaves a truncated file; here
every checkpoint is written to a temporary file and renamed, training resumes from the one that went furthest, and
the best model is kept by validation Dice. Loading is ``checkpoints.load_checkpoint``'s.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ignite.engine import Engine, Events
from ignite.handlers import Checkpoint
from monai.handlers import CheckpointLoader

from ..checkpoints import MISFITTING, CheckpointError, latest_checkpoint, load_checkpoint, one_line
from ..data.files import remove_stale_temporaries
from ..errors import InputError, reraise
from ..layout import FINAL_CHECKPOINT, MODEL_FILE, PERIODIC_CHECKPOINT, PERIODIC_CHECKPOINT_GLOB
from ..records import ResumeError, TrainingRecord, resume_mode
from .saving import AtomicDiskSaver

logger = logging.getLogger(__name__)


class SafeCheckpointLoader(CheckpointLoader):
    """MONAI's ``CheckpointLoader`` whose failures (missing, tampered, foreign file) name the file in one line.

    ``optional`` names objects that checkpoints written by earlier versions of the bundle lack (their settings): they
    are skipped with a warning instead of failing the load.

    Args:
        optional: names in ``load_dict`` that a checkpoint may lack (skipped with a warning).
        args, kwargs: MONAI ``CheckpointLoader``'s (``load_path``, ``load_dict``, ``map_location``, ``strict``...).

    Raises:
        CheckpointError: when the engine starts, the file is missing, unsafe or unreadable, or does not fit
            ``load_dict``; an ``InputError`` raised while loading a state (e.g. ``SettingsError``) passes unchanged.
    """

    def __init__(self, *args, optional: tuple[str, ...] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.optional = tuple(optional)

    def __call__(self, engine: Engine) -> None:
        state = load_checkpoint(self.load_path, map_location="cpu")  # refuse unsafe or unreadable files first
        for name in self.optional:
            if name in self.load_dict and name not in state:
                logger.warning("%s has no %s (written by an earlier version): not restored", self.load_path, name)
                self.load_dict = {k: v for k, v in self.load_dict.items() if k != name}
        try:
            super().__call__(engine)
        except InputError:  # already one line naming the problem (e.g. settings that contradict the checkpoint)
            raise
        except MISFITTING as error:
            reason = one_line(error, 300)
            raise CheckpointError(f"{self.load_path}: does not fit this bundle's model ({reason})") from None


class ResumableCheckpoint:
    """Training checkpoints of ``objects`` plus the trainer's state, and resuming from the latest one of the same run.

    Every ``save_interval`` epochs ``checkpoint_epoch=<n>.pt`` replaces the previous one; ``model_final.pt`` is
    written when training completes or stops on an error. The trainer is added when attaching, since a config
    cannot reference the trainer from inside the trainer's own handler list. A run resumed from a finished
    checkpoint has nothing left to do and ends at once. ``record`` (``records.TrainingRecord``: subjects, fold,
    settings) is saved as ``run``; the latest checkpoint is resumed only when it records the same run. Otherwise
    ``resume`` true starts afresh (the other run's checkpoints and model are replaced once this run saves its first
    checkpoint), strict refuses in one line naming what differs; false never resumes.

    Args:
        save_dir: folder of the checkpoints, searched when resuming and written when saving.
        objects: name -> stateful object to save and restore (the trainer joins them as ``trainer``).
        save_interval: epochs between periodic checkpoints.
        resume: true, false or strict (``records.RESUME_MODES``; booleans too).
        save: write checkpoints at all (the configs turn it off on ranks other than 0, which only resume).
        map_location: device the resumed states are loaded onto (``torch.load``'s ``map_location``).
        record: what this run is (``records.TrainingRecord``); None resumes any checkpoint that fits ``objects``.

    Raises:
        CheckpointError: on ``attach``, a checkpoint in ``save_dir`` is unreadable or not a training checkpoint;
            when the run starts, the latest one does not fit ``objects`` (see ``SafeCheckpointLoader``).
        ResumeError: on ``attach`` with ``resume`` strict, the latest checkpoint records another run.
    """

    def __init__(
        self,
        save_dir: str,
        objects: dict,
        save_interval: int = 1,
        resume="true",
        save: bool = True,
        map_location=None,
        record: TrainingRecord | None = None,
    ) -> None:
        self.save_dir, self.objects, self.save_interval = Path(save_dir), objects, save_interval
        self.resume, self.save, self.map_location, self.record = resume_mode(resume), save, map_location, record

    def _resumable(self) -> tuple[str | None, list[Path]]:
        """The checkpoint to resume from, and the files of another run that this run's first save replaces."""
        path = latest_checkpoint(self.save_dir) if self.resume != "false" and self.save_dir.is_dir() else None
        if path is None or self.record is None:
            return path, []
        found = self.record.differences(load_checkpoint(path, map_location="cpu").get("run"))
        if not found:
            return path, []
        if self.resume == "strict":
            raise ResumeError(
                f"{path}: made by another training run ({'; '.join(found[:3])}); pass --resume true to start afresh "
                "there, or another --ckpt_dir"
            )
        logger.warning("%s records another training run (%s): starting afresh", path, "; ".join(found[:3]))
        others = sorted(self.save_dir.glob(PERIODIC_CHECKPOINT_GLOB)) + [self.save_dir / FINAL_CHECKPOINT]
        return None, others + [self.save_dir / MODEL_FILE]

    def attach(self, engine: Engine) -> None:
        to_save = {**self.objects, "trainer": engine} | ({"run": self.record} if self.record is not None else {})
        path, replaced = self._resumable()
        if path is not None:
            logger.info("resuming training from %s", path)
            loader = SafeCheckpointLoader(
                load_path=path, load_dict=to_save, map_location=self.map_location, optional=("settings",)
            )
            loader.attach(engine)
        if not self.save:
            return
        self.save_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.save_dir)  # left by a run killed while saving
        saver = AtomicDiskSaver(self.save_dir)
        if path is not None:  # the checkpoints of the run resumed from go once this run has saved its first
            saver.replaced.extend(sorted(self.save_dir.glob(PERIODIC_CHECKPOINT_GLOB)))
        saver.foreign.update({p: p.stat().st_mtime_ns for p in replaced if p.exists()})  # another run's files
        periodic = Checkpoint(
            to_save,
            saver,
            n_saved=1,
            filename_pattern=PERIODIC_CHECKPOINT,
            global_step_transform=lambda e, _: e.state.epoch,
        )
        final = Checkpoint(to_save, AtomicDiskSaver(self.save_dir, FINAL_CHECKPOINT), n_saved=None)

        def register_savers(e: Engine) -> None:
            # registered once the run starts, so they run after every other handler of the same event: a
            # checkpoint then never records an epoch whose validation (and best model) a kill could still lose
            if not e.has_event_handler(final, Events.COMPLETED):  # once, even if the engine is run again
                e.add_event_handler(Events.EPOCH_COMPLETED(every=self.save_interval), periodic)
                e.add_event_handler(Events.COMPLETED, final)

        engine.add_event_handler(Events.STARTED, register_savers)
        engine.add_event_handler(Events.EXCEPTION_RAISED, lambda e, error: (final(e), reraise(error)))


class BestModelSaver:
    """Keeps ``filename`` as the state of ``objects`` at the best value of the evaluator's key metric so far.

    Attach to the validator. Like MONAI's ``CheckpointSaver(save_key_metric=True)``, but written atomically.

    Args:
        save_dir: folder of the model file (created on ``attach``).
        objects: name -> stateful object whose state the model file holds.
        filename: the model file's name; each new best replaces it.
        metric: the metric of ``engine.state.metrics`` to maximise; None takes the evaluator's key metric.
    """

    def __init__(self, save_dir: str, objects: dict, filename: str = MODEL_FILE, metric: str | None = None) -> None:
        self.save_dir, self.objects, self.filename, self.metric = Path(save_dir), objects, filename, metric

    def attach(self, engine: Engine) -> None:
        self.save_dir.mkdir(parents=True, exist_ok=True)

        def score(e: Engine) -> float:
            return float(e.state.metrics[self.metric or e.state.key_metric_name])

        saver = Checkpoint(
            self.objects,
            AtomicDiskSaver(self.save_dir, self.filename),
            score_function=score,
            n_saved=1,
            global_step_transform=lambda e, _: e.state.epoch,
        )
        engine.add_event_handler(Events.EPOCH_COMPLETED, saver)
