"""Errors caused by the user's inputs (files, datalists, checkpoints) and how they reach the user.

An ``InputError`` says which file is wrong and why. However deep it is raised (inside a transform, a data loader,
a config expression), the user sees that one sentence and exit code 1, not a traceback: the engines'
``InputErrorHandler`` and, for errors raised while a config is being built, the excepthook that
``runtime.prepare_process`` installs (a workflow's first ``initialize`` step, or the command line's start; importing
``scripts`` changes nothing). Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from multiprocessing.dummy import DummyProcess

POOL_GRACE_S = 60.0  # the longest the excepthook waits for a thread-pool worker to finish the item it is on

logger = logging.getLogger(__name__)


class InputError(ValueError):
    """An input the bundle cannot use; the message starts with the file it concerns."""


def find_input_error(error: BaseException | None) -> InputError | None:
    """The InputError behind ``error`` (MONAI wraps errors from transforms and configs in RuntimeErrors)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, InputError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def reraise(error: BaseException) -> None:
    """End the run: with one line and exit code 1 for an input error, with the error itself otherwise."""
    found = None if isinstance(error, SystemExit) else find_input_error(error)
    if found is None:
        raise error
    logger.error("%s", found)
    _print_error(found)
    raise SystemExit(1) from None


class InputErrorHandler:
    """Ignite handler ending an engine's run on an input error with one line instead of a traceback.

    Attach it before other ``EXCEPTION_RAISED`` handlers (Ignite stops at the first one that raises).

    Args:
        None: ``attach(engine)`` registers the ``EXCEPTION_RAISED`` handler; there is nothing to configure.

    Raises:
        SystemExit: code 1, after printing the one line, when the engine's error is or wraps an ``InputError``; any
            other error is raised again as it is.
    """

    def attach(self, engine) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.EXCEPTION_RAISED, lambda _engine, error: reraise(error))


def _excepthook(kind, value, traceback) -> None:
    found = find_input_error(value)
    if found is None:
        _previous_hook(kind, value, traceback)
        return
    _print_error(found)
    _let_pool_workers_finish()


def _let_pool_workers_finish(grace_s: float = POOL_GRACE_S) -> None:
    """Wait for thread-pool workers to finish the item they are on before the interpreter exits.

    MONAI's ``CacheDataset`` fills its cache in a ``ThreadPool``; when one item raises, the pool is terminated but
    its worker goes on with the next item. An interpreter that exits while that worker is inside native code
    (reading or resampling an image) aborts, and the user gets exit code 134 and a C++ message after the error line.
    A terminated pool's workers stop after their current item, so the wait is short.
    """
    deadline = time.monotonic() + grace_s
    for thread in threading.enumerate():
        if isinstance(thread, DummyProcess) and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))


def _print_error(error: InputError) -> None:
    # on a line of its own, even when a progress bar was drawing on the current one
    print(f"\nerror: {error}", file=sys.stderr, flush=True)


_previous_hook = sys.excepthook


def install_excepthook() -> None:
    """Print input errors as one line at top level (idempotent); everything else goes to the previous hook."""
    if sys.excepthook is not _excepthook:
        global _previous_hook
        _previous_hook = sys.excepthook
        sys.excepthook = _excepthook
