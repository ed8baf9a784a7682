"""A producer run in a thread ahead of its consumer: the branch is read while the target writes,
as a ``COPY | COPY`` pipe does."""

from __future__ import annotations

import gc
import os
import queue
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

# While a producer collects COPY rows it is busy in Python, and each time the consumer wakes from a
# wait on the target it waits for the GIL up to the switch interval: at CPython's 5 ms a chunk's
# writes took twice as long beside a busy thread, at 0.5 ms about as long as alone (measured here).
# It also allocates a few objects per row, so the cyclic GC runs often, and each older-generation
# pass walks every object of the process: with Airflow loaded (some 170,000 objects) reading 1M
# rows cost 2.6 s of CPU, 0.6 s with the objects that existed before frozen (gc.freeze: they are
# skipped by collections; the rows' own objects are still collected).
_SWITCH_INTERVAL = 0.0005
_producing = {"users": 0, "interval": 0.0, "froze": False}
_producing_lock = threading.Lock()
# Whether this process had objects frozen by others before its first producer, per process id (a
# forked child asks again). Asked once: gc.get_freeze_count() walks every frozen object, and a
# LocalExecutor task inherits the scheduler's frozen heap (it froze it before forking): asked at
# every read, it took 38 ms, twice per table of a nightly run, most of its time.
_frozen_by_others: dict[int, bool] = {}


def frozen_by_others() -> bool:
    """Whether objects were frozen in this process before its first producer froze any."""
    pid = os.getpid()
    if pid not in _frozen_by_others:
        _frozen_by_others[pid] = gc.get_freeze_count() > 0
    return _frozen_by_others[pid]


@contextmanager
def producing() -> Iterator[None]:
    """While at least one prefetching producer runs: a short GIL switch interval and the objects
    that existed before frozen out of the GC's passes; both undone when the last one ends."""
    with _producing_lock:
        if _producing["users"] == 0:
            _producing["interval"] = sys.getswitchinterval()
            sys.setswitchinterval(min(_producing["interval"], _SWITCH_INTERVAL))
            _producing["froze"] = not frozen_by_others()  # a freeze made by others stays
            gc.freeze()
        _producing["users"] += 1
    try:
        yield
    finally:
        with _producing_lock:
            _producing["users"] -= 1
            if _producing["users"] == 0:
                sys.setswitchinterval(_producing["interval"])
                if _producing["froze"]:
                    gc.unfreeze()


def prefetched(items: Iterator[T], depth: int) -> Iterator[T]:
    """Run ``items`` in a thread, ``depth`` items ahead of the consumer. Errors of the producer
    surface in the consumer; a consumer that stops early stops the producer before returning."""
    with producing():
        yield from _prefetched(items, depth)


def _prefetched(items: Iterator[T], depth: int) -> Iterator[T]:
    done = object()
    slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(done)
        except BaseException as exc:  # handed to the consumer
            slots.put(exc)
        finally:
            if stop.is_set() and hasattr(items, "close"):
                items.close()  # type: ignore[union-attr]

    thread = threading.Thread(target=produce, name="sync-source-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                slots.get(timeout=0.1)
            except queue.Empty:
                pass
        thread.join()
