"""Subjects prepared ahead on a thread: the same items in the same order, errors raised as they are and where they
occur, at most ``depth`` items waiting, and a consumer that stops early leaves no thread behind."""

from __future__ import annotations

import threading
import time

import pytest

from scripts.data.prefetch import prefetched
from scripts.errors import InputError


def test_items_come_in_order_and_are_prepared_ahead_on_another_thread():
    made_on = []

    def items():
        for number in range(10):
            made_on.append(threading.current_thread())
            yield number

    assert list(prefetched(items(), 3)) == list(range(10))
    assert all(thread is not threading.current_thread() for thread in made_on)


def test_at_most_depth_items_wait():
    produced = []

    def items():
        for number in range(20):
            produced.append(number)
            yield number

    stream = prefetched(items(), 2)
    assert next(stream) == 0
    time.sleep(0.3)
    assert len(produced) <= 1 + 2 + 1  # the consumed one, the buffer, the one waiting to be put
    assert list(stream) == list(range(1, 20))


def test_an_error_arrives_after_the_items_before_it_and_keeps_its_type():
    def items():
        yield 1
        yield 2
        raise InputError("broken.nii.gz: not a labelmap")

    stream = prefetched(items(), 4)
    assert [next(stream), next(stream)] == [1, 2]
    with pytest.raises(InputError, match="broken.nii.gz: not a labelmap"):
        next(stream)


def test_a_consumer_that_stops_early_lets_the_thread_finish_its_item_and_end():
    finished = []

    def items():
        for number in range(100):
            time.sleep(0.01)
            finished.append(number)
            yield number

    before = threading.active_count()
    stream = prefetched(items(), 2)
    assert next(stream) == 0
    stream.close()
    assert threading.active_count() == before and len(finished) < 10
