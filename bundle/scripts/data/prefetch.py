"""Subjects prepared ahead on a background thread, so that reading and resampling overlap the fit of a batch.

Reading a labelmap (decompression), resampling it (torch) and sampling its points spend most of their time outside
Python's lock, as does the fit; where a core is free (the fit runs on a GPU, or leaves cores idle) the next batch is
ready when the current one is fitted. At most ``depth`` prepared subjects wait, so memory stays bounded; an error
while preparing reaches the consumer as it is (one-line input errors stay one line), and a consumer that stops early
lets the thread finish the subject it is on, so that no native reader is interrupted.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

_END = object()


def prefetched(items: Iterator, depth: int) -> Iterator:
    """The items of ``items`` in order, each produced up to ``depth`` items ahead on a background thread.

    Raises:
        Exception: whatever producing an item raised, once the items before it have been consumed.
    """
    buffer: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as error:  # noqa: BLE001  (handed to the consumer, which raises it)
            put((None, error))

    thread = threading.Thread(target=produce, name="subject-loader")
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        thread.join()
