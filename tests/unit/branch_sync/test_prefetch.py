"""The prefetching producer's process-wide settings: the GC freeze it makes is undone, one made by
others is kept, and whether there was one is asked once per process (the count walks every frozen
object: a LocalExecutor task inherits the scheduler's frozen heap)."""

from __future__ import annotations

import gc

import pytest

from include.branch_sync import prefetch
from include.branch_sync.prefetch import prefetched


@pytest.fixture
def no_freeze(monkeypatch):
    """A process with nothing frozen, whose answer is not cached yet; the count's calls recorded."""
    gc.unfreeze()
    monkeypatch.setattr(prefetch, "_frozen_by_others", {}, raising=False)
    calls = []
    counted = gc.get_freeze_count

    def counting() -> int:
        calls.append(1)
        return counted()

    monkeypatch.setattr(gc, "get_freeze_count", counting)
    yield calls
    gc.unfreeze()


def test_the_freeze_count_is_asked_once_however_many_reads(no_freeze):
    for _ in range(3):
        assert list(prefetched(iter(range(5)), depth=2)) == [0, 1, 2, 3, 4]
    assert len(no_freeze) == 1


def test_a_freeze_of_its_own_is_undone_when_the_last_producer_ends(no_freeze):
    outer = prefetched(iter(range(3)), depth=1)
    assert next(outer) == 0
    assert list(prefetched(iter("ab"), depth=1)) == ["a", "b"]  # a second producer while the first runs
    assert gc.get_freeze_count() > 0  # the first still runs: still frozen
    assert list(outer) == [1, 2]
    assert gc.get_freeze_count() == 0


def test_a_freeze_made_by_others_stays(no_freeze):
    keep = [object() for _ in range(10)]
    gc.freeze()  # as the LocalExecutor does before it forks the task's process
    frozen = gc.get_freeze_count()
    assert list(prefetched(iter(range(5)), depth=2)) == [0, 1, 2, 3, 4]
    assert gc.get_freeze_count() >= frozen and keep
