"""The long-running processes' garbage-collector policy."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from streams.runtime import YOUNG_THRESHOLD, tune_garbage_collector


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_young_passes_are_rarer_and_what_was_loaded_is_frozen() -> None:
    before = gc.get_threshold()
    tune_garbage_collector()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, before[1], before[2])
    assert gc.get_freeze_count() > 0
    # Cycles are still collected.
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
