"""Each subject scored and written in worker processes, while the engine goes on: CPU work spread over every core.

After the fit, a subject's work is mostly CPU work in Python and native code (distance transforms, marching cubes,
labelled components, overlays, meshes), one subject at a time on one core. The handler runs the evaluator's
postprocessing itself when a batch's fit completes: the part that needs the device (``device_transform``: the
reconstruction, decoded where the decoder is) in the engine's process, then each subject's scoring and writing
(``subject_transform`` and the ``ScoresWriter``'s subject writer) in ``workers`` processes. When the engine runs on the
CPU, the decoding goes to the workers too (each has the decoder, forked with it): the engine's process then only
prepares and fits, the one part that uses several threads. The batch is handed to the workers and the engine fits the
next one meanwhile: a batch's rows are gathered, in the subjects' order, when the next batch's fit completes (the last
batch's when the run completes), so at most one batch is in the workers at a time. Only each subject's row comes back,
so memory does not grow with the batch's images; a subject that fails stops the run with its own error. ``workers`` 0
runs everything on the engine's thread, as MONAI's
``postprocessing`` would (the writer then writes the files). Workers are forked once the model is loaded (they
inherit the reference and the chain) and run one thread each; the pool ends with the run.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor

import torch
from ignite.engine import Engine, Events
from monai.engines.utils import IterationEvents, engine_apply_transform

from ..errors import find_input_error
from ..runtime import default_workers
from .writers import WRITTEN, ScoresWriter

_JOB: tuple | None = None  # what a forked worker runs: decoding (or None), subject transform, subject writer


def _worker_init() -> None:
    torch.set_num_threads(1)  # the cores are the pool's: one thread per process


def _score_and_write(item: dict) -> dict:
    """A worker's job: score one subject, write its files, return its row. An input error comes back as itself (an
    exception's cause does not cross processes, and MONAI wraps errors raised in transforms)."""
    decode, transform, writer = _JOB
    try:
        done = transform(decode(item) if decode is not None else item)
        writer(done, done["scores"])
    except Exception as error:
        found = find_input_error(error)
        if found is None:
            raise
        raise found from None
    return done["scores"]


def on_cpu(value):
    """``value`` with every tensor in it moved to the CPU (dicts and lists walked through)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: on_cpu(inner) for key, inner in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(on_cpu(inner) for inner in value)
    return value


class ScoringPool:
    """Runs ``device_transform`` then ``subject_transform`` on each of a batch's subjects when the fit completes.

    Args:
        device_transform: what runs in the engine's process (decoding the fitted code on the input's grid).
        subject_transform: what runs per subject after it (scores, calibration, labelmaps).
        writer: the run's ``ScoresWriter``, whose subject writer writes each subject in the worker that scored it.
        workers: worker processes; 0 scores and writes on the engine's thread; None: ``default_workers()``.
        decode_in_workers: run ``device_transform`` in the workers too; None: when the engine's device is the CPU.

    Raises:
        ValueError: a negative number of workers.
    """

    def __init__(
        self,
        device_transform: Callable,
        subject_transform: Callable,
        writer: ScoresWriter | None = None,
        workers: int | None = None,
        decode_in_workers: bool | None = None,
    ) -> None:
        workers = default_workers() if workers is None else int(workers)
        if workers < 0:
            raise ValueError(f"scoring_workers: {workers} must be 0 (on the engine's thread) or more")
        self.device_transform, self.subject_transform = device_transform, subject_transform
        self.writer, self.workers, self.decode_in_workers = writer, workers, decode_in_workers
        self.pool: ProcessPoolExecutor | None = None
        self.in_workers: list[Future] = []  # the batch being scored while the engine fits the next

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self.started)
        engine.add_event_handler(IterationEvents.MODEL_COMPLETED, self.batch_fitted)
        engine.add_event_handler(Events.COMPLETED, self.completed)  # after an error, idle workers end with the process

    def started(self, engine: Engine) -> None:
        self.in_workers = []

    def _decodes_in_workers(self, engine: Engine) -> bool:
        if self.decode_in_workers is not None:
            return self.decode_in_workers
        device = getattr(engine.state, "device", None)
        return device is not None and torch.device(device).type == "cpu"

    def _pool(self, engine: Engine) -> ProcessPoolExecutor:
        global _JOB
        if self.pool is None:
            decode = self.device_transform if self._decodes_in_workers(engine) else None
            _JOB = (decode, self.subject_transform, self.writer.subject_writer() if self.writer is not None else None)
            context = multiprocessing.get_context("fork")
            self.pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_worker_init)
        return self.pool

    def batch_fitted(self, engine: Engine) -> None:
        pairs = list(zip(engine.state.batch, engine.state.output, strict=True))
        if self.workers == 0 or self.writer is None:
            decoded = [engine_apply_transform(batch, output, self.device_transform) for batch, output in pairs]
            done = [engine_apply_transform(batch, output, self.subject_transform) for batch, output in decoded]
            engine.state.batch, engine.state.output = [b for b, _ in done], [o for _, o in done]
            return
        pool = self._pool(engine)
        if not self._decodes_in_workers(engine):  # decoded here, where the decoder is
            pairs = [engine_apply_transform(batch, output, self.device_transform) for batch, output in pairs]
        items = [on_cpu({**batch, **output}) for batch, output in pairs]  # a worker never touches the device
        scoring, self.in_workers = self.in_workers, [pool.submit(_score_and_write, item) for item in items]
        engine.state.batch, engine.state.output = self._gathered(scoring)  # the previous batch's, maybe none

    @staticmethod
    def _gathered(futures: list[Future]) -> tuple[list[dict], list[dict]]:
        """A scored batch's items and outputs, as the writer reads them (its files are written already)."""
        rows = [future.result() for future in futures]
        return [{"id": row["id"]} for row in rows], [{"scores": row, WRITTEN: True} for row in rows]

    def completed(self, engine: Engine) -> None:
        """The last batch's rows go to the writer before it merges the run's tables, then the workers end."""
        if self.in_workers:
            _, outputs = self._gathered(self.in_workers)
            self.in_workers = []
            self.writer.take(outputs)  # the pool is used only with a writer
        self.close()

    def close(self, engine: Engine | None = None) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None
