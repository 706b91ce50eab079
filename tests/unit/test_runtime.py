"""The long-running processes' garbage-collector and allocator policy."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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


RELEASE_SCRIPT = """
import sys
from streams.runtime import release_free_memory, tune_allocator

def rss_mb():
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024

if "tuned" in sys.argv:
    tune_allocator()
first = bytearray(4 << 20)
del first  # glibc now serves blocks up to 4 MB from the heap (unless tuned)
before = rss_mb()
blocks = [bytearray(512 * 1024) for _ in range(200)]  # 100 MB
pin = bytearray(4096)  # a live block above them keeps the heap from shrinking
del blocks
if "trim" in sys.argv:
    release_free_memory()
print(round(rss_mb() - before))
"""


def _held_after_free(*mode: str) -> int:
    """MB a fresh interpreter still holds after allocating and freeing 100 MB of blocks."""
    done = subprocess.run(
        [sys.executable, "-c", RELEASE_SCRIPT, *mode],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    return int(done.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_large_buffers_go_back_to_the_system() -> None:
    assert _held_after_free() >= 80  # glibc's defaults keep them (the problem)
    assert _held_after_free("tuned") <= 10
    assert _held_after_free("trim") <= 10
