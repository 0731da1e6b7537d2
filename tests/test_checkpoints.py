"""Training checkpoints on disk: a save that does not finish never costs the checkpoint it was replacing."""

from __future__ import annotations

import shutil

import pytest
import torch
from ignite.engine import Engine, State
from ignite.handlers import Checkpoint

from scripts import checkpoints
from scripts.checkpoints import latest_checkpoint
from scripts.handlers.saving import AtomicDiskSaver
from scripts.layout import PERIODIC_CHECKPOINT


def _trainer_at(epoch: int) -> Engine:
    engine = Engine(lambda _engine, _batch: None)
    engine.state = State(epoch=epoch, iteration=10 * epoch, epoch_length=10, max_epochs=100)
    return engine


def test_a_save_cut_short_keeps_the_checkpoint_it_was_replacing(tmp_path, monkeypatch):
    """Ignite removes the checkpoint it replaces before it saves the next one: a run killed during that save used to
    leave no checkpoint at all, and training silently started again from the first epoch."""
    trainer = _trainer_at(1)
    periodic = Checkpoint(
        {"network": torch.nn.Linear(2, 1), "trainer": trainer},
        AtomicDiskSaver(tmp_path),
        n_saved=1,
        filename_pattern=PERIODIC_CHECKPOINT,
        global_step_transform=lambda engine, _: engine.state.epoch,
    )
    periodic(trainer)
    first = latest_checkpoint(tmp_path)
    assert first is not None

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed while saving")

    trainer.state.epoch, trainer.state.iteration = 2, 20
    with monkeypatch.context() as patch:
        patch.setattr(checkpoints.torch, "save", killed)
        with pytest.raises(KeyboardInterrupt):
            periodic(trainer)
    assert latest_checkpoint(tmp_path) == first  # still there, resumable
    assert not list(tmp_path.glob(".*tmp*"))

    trainer.state.epoch, trainer.state.iteration = 3, 30
    periodic(trainer)  # a finished save removes what it replaces
    assert [path.name for path in tmp_path.glob("*.pt")] == [PERIODIC_CHECKPOINT.format(global_step=3, ext="pt")]
    assert torch.load(latest_checkpoint(tmp_path), weights_only=True)["trainer"]["iteration"] == 30


def test_a_resumed_run_keeps_one_periodic_checkpoint(tmp_path):
    """The checkpoint a run resumed from (and one a kill left beside its successor) is replaced by the resumed run's
    first save, as every periodic checkpoint replaces the one before it."""
    from scripts.handlers.checkpoints import ResumableCheckpoint

    network = torch.nn.Linear(2, 1)
    for max_epochs in (2, 4):  # killed after epoch 2 (no final checkpoint), then resumed to the end
        trainer = Engine(lambda _engine, _batch: None)
        ResumableCheckpoint(str(tmp_path), {"network": network}).attach(trainer)
        trainer.run(range(3), max_epochs=max_epochs)
        if max_epochs == 2:
            (tmp_path / "model_final.pt").unlink()
            kept = tmp_path / PERIODIC_CHECKPOINT.format(global_step=2, ext="pt")  # a kill before the removal left
            shutil.copy(kept, tmp_path / PERIODIC_CHECKPOINT.format(global_step=1, ext="pt"))  # epoch 1 beside it
    assert sorted(path.name for path in tmp_path.glob("*.pt")) == ["checkpoint_epoch=4.pt", "model_final.pt"]


def test_a_bug_while_loading_is_not_reported_as_a_bad_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoints.CheckpointError, match="not a safe, readable checkpoint"):
        checkpoints.load_checkpoint(path)

    def broken(*args, **kwargs):
        raise TypeError("a bug")

    monkeypatch.setattr(torch, "load", broken)
    with pytest.raises(TypeError, match="a bug"):
        checkpoints.load_checkpoint(path)
