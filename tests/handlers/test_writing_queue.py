"""Per-subject writing on background threads: every job runs, a batch is queued only once the previous one is
written (two batches in memory at most), and a failed write stops the run with its own error."""

from __future__ import annotations

import threading
import time

import pytest

from scripts.handlers.writing_queue import WritingQueue


def test_inline_queue_writes_on_the_callers_thread():
    threads = []
    queue = WritingQueue(0)
    queue.submit_batch(lambda number: threads.append((number, threading.current_thread())), [(1,), (2,)])
    assert threads == [(1, threading.current_thread()), (2, threading.current_thread())] and queue.pool is None


def test_a_batch_is_written_while_the_caller_goes_on_and_finished_before_the_next_is_queued():
    written, release = [], threading.Event()
    queue = WritingQueue(1)

    def job(number: int) -> None:
        release.wait(5)
        written.append(number)

    queue.submit_batch(job, [(0,), (1,)])
    assert written == [] and len(queue.pending) == 2  # the caller did not wait for the batch
    release.set()
    queue.submit_batch(job, [(2,), (3,)])
    assert written[:2] == [0, 1]  # the previous batch was finished first
    queue.drain()
    queue.close()
    assert written == [0, 1, 2, 3] and queue.pool is None and not queue.pending


def test_a_failed_write_is_raised_on_the_callers_thread_once_its_batch_is_over():
    written = []
    queue = WritingQueue(2)

    def job(number: int) -> None:
        if number == 1:
            raise OSError("disk full")
        time.sleep(0.01)
        written.append(number)

    queue.submit_batch(job, [(n,) for n in range(6)])
    with pytest.raises(OSError, match="disk full"):
        queue.submit_batch(job, [(9,)])
    assert sorted(written) == [0, 2, 3, 4, 5]  # the rest of the failed batch was still written
    queue.close()


def test_closing_lets_a_running_job_finish():
    started, finished = threading.Event(), []
    queue = WritingQueue(1)

    def slow() -> None:
        started.set()
        time.sleep(0.2)
        finished.append(True)

    queue.submit_batch(slow, [()])
    started.wait(5)
    queue.close()
    assert finished == [True]


def test_a_negative_number_of_threads_is_refused():
    with pytest.raises(ValueError, match="writer_threads"):
        WritingQueue(-1)
