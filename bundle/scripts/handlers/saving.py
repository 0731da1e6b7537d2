"""Writing checkpoints so that a run killed at any moment leaves a complete one behind."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from ignite.handlers.checkpoint import BaseSaveHandler

from ..data.files import atomic_path


class AtomicDiskSaver(BaseSaveHandler):
    """Ignite save handler writing through a temporary file; with ``filename`` every save replaces that file.

    Ignite asks to remove the checkpoint being replaced *before* it saves the next one; a run killed during that save
    would be left with no checkpoint and start again from the first epoch. Removals therefore wait until the next save
    is complete. ``foreign`` files (another run's, with their modification times) go at the same moment, unless this
    run has written them meanwhile (its best model, saved under the same name).
    """

    def __init__(self, dirname: str | Path, filename: str | None = None) -> None:
        self.dirname, self.filename = Path(dirname), filename
        self.replaced: list[Path] = []
        self.foreign: dict[Path, int] = {}

    def __call__(self, checkpoint: Mapping, filename: str, metadata: Mapping | None = None) -> None:
        path = self.dirname / (self.filename or filename)
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)
        for old in self.replaced:
            if old != path:
                old.unlink(missing_ok=True)
        for old, written in self.foreign.items():
            if old != path and old.exists() and old.stat().st_mtime_ns == written:
                old.unlink()
        self.replaced.clear()
        self.foreign.clear()

    def remove(self, filename: str) -> None:
        if self.filename is None:  # a fixed name is replaced by the next save, never removed
            self.replaced.append(self.dirname / filename)
