"""Model files and training checkpoints that load safely: what a checkpoint holds is only ever read here.

Loading always uses ``weights_only=True`` and turns a foreign, tampered or truncated file into one clear
``CheckpointError``; the handlers that write checkpoints through a temporary file are ``handlers.checkpoints``.
"""

from __future__ import annotations

import logging
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from .errors import InputError
from .layout import FINAL_CHECKPOINT, PERIODIC_CHECKPOINT_GLOB

logger = logging.getLogger(__name__)


class CheckpointError(InputError):
    """A checkpoint that cannot be loaded; the message names the file."""


# torch.load of a file that is not a safe checkpoint: refused by the weights-only unpickler, a damaged zip archive
# (RuntimeError from its reader, zipfile/EOF errors), unreadable bytes. A state that does not fit a module: missing or
# unexpected keys and shape mismatches (RuntimeError), or a state of another kind (KeyError, ValueError). Any other
# exception is a bug and keeps its traceback.
UNREADABLE = (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile)
MISFITTING = (RuntimeError, KeyError, ValueError)


def one_line(error: BaseException, limit: int) -> str:
    return " ".join(str(error).split())[:limit]


def load_checkpoint(path: str | Path, map_location=None) -> dict:
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found") from None
    except UNREADABLE as error:
        reason = f"{type(error).__name__}: {one_line(error, 200)}"
        raise CheckpointError(f"{path}: not a safe, readable checkpoint ({reason})") from None
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path}: not a checkpoint of this bundle (no dictionary of states)")
    return dict(state)


def latest_checkpoint(folder: str | Path) -> str | None:
    """The training checkpoint in ``folder`` that went furthest (periodic ones and the final one, compared by the
    trainer's iteration), or None when there is none."""
    best: tuple[int, str] | None = None
    candidates = sorted(Path(folder).glob(PERIODIC_CHECKPOINT_GLOB)) + sorted(Path(folder).glob(FINAL_CHECKPOINT))
    for path in candidates:
        state = load_checkpoint(path, map_location="cpu")
        trainer = state.get("trainer")
        if not isinstance(trainer, Mapping) or "iteration" not in trainer:
            raise CheckpointError(f"{path}: not a training checkpoint of this bundle (no trainer state)")
        if best is None or int(trainer["iteration"]) >= best[0]:
            best = (int(trainer["iteration"]), str(path))
    return None if best is None else best[1]


def load_into(path: str | Path, objects: Mapping, optional: tuple[str, ...] = ()) -> None:
    """Load the states of ``objects`` from a checkpoint (a model to recalibrate), each by its name, safely; those in
    ``optional`` (what models of earlier versions lack) are left as they are when the checkpoint has none."""
    state = load_checkpoint(path, map_location="cpu")
    objects = {name: target for name, target in objects.items() if name in state or name not in optional}
    missing = [name for name in objects if name not in state]
    if missing:
        raise CheckpointError(f"{path}: not a model of this bundle (it lacks {', '.join(missing)})")
    for name, target in objects.items():
        try:
            target.load_state_dict(state[name])
        except InputError:
            raise
        except MISFITTING as error:
            raise CheckpointError(f"{path}: {name} does not fit this bundle's model ({one_line(error, 300)})") from None
    logger.info("loaded %s from %s", ", ".join(objects), path)
