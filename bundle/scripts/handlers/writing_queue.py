"""Per-subject writing off the engine's thread, so that the next batch is fitted while a batch's files are drawn.

A subject's overlay (matplotlib), meshes and labelmaps take a third of its fit's time on a CPU, mostly in Python
and in native code that the fitting does not need: writing a batch's files on background threads while the engine
fits the next batch overlaps the two (double buffering). Before a batch's files are queued, the previous batch's are
finished, so at most two batches are held in memory however many subjects a run scores; a failed write stops the
run at the engine's next batch (or at its end) with its own error, as an inline write would. A run that fails for
another reason still gets its queued subjects written: the threads finish their queue before the interpreter exits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor


class WritingQueue:
    """Runs a batch's writing jobs on ``threads`` background threads; ``threads=0`` runs them inline.

    Args:
        threads: background threads (0: write on the caller's thread).

    Raises:
        ValueError: a negative number of threads.
    """

    def __init__(self, threads: int = 1) -> None:
        if threads < 0:
            raise ValueError(f"writer_threads: {threads} must be 0 (inline) or more")
        self.threads = int(threads)
        self.pool: ThreadPoolExecutor | None = None
        self.pending: list[Future] = []

    def submit_batch(self, job: Callable, items: Iterable[tuple]) -> None:
        """``job(*item)`` for every item, after the previous batch's jobs have finished (raising the first error
        among them); inline without threads."""
        if self.threads == 0:
            for item in items:
                job(*item)
            return
        self.drain()
        if self.pool is None:
            self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="subject-writer")
        self.pending = [self.pool.submit(job, *item) for item in items]

    def drain(self) -> None:
        """Wait for every queued job; raise the first error among them."""
        pending, self.pending = self.pending, []
        errors = [future.exception() for future in pending]  # waits for each
        first = next((error for error in errors if error is not None), None)
        if first is not None:
            raise first

    def close(self) -> None:
        """End the threads once every queued job has finished (call ``drain`` first to see their errors)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None
        self.pending = []
