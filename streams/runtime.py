"""Process-wide settings of the long-running processes (worker, learner, bench).

Python's garbage collector runs a young-generation pass every 700 new container
objects, by default. A worker batch builds about a hundred objects per event
(decoded JSON, records, documents), so a batch of 500 events triggered dozens
of passes that promoted the batch's still-live records to the older
generations, whose full passes then walk everything the process holds. py-spy
and the bench's model stage measured that at a third of the edge's cost and a
sixth of scoring's. Records without reference cycles are freed by reference
counting anyway; the collector is only needed for cycles, so it can run less
often.

Memory: glibc's allocator raises its mmap threshold (up to 32 MB) each time a large
block is freed, after which bulk bodies, fetched Kafka batches and model snapshots
are carved out of the heap, where what is freed between live small objects cannot go
back to the system: the worker's RSS then climbed by a third over an 80,000-event
replay while the Python objects it held stayed level (tracemalloc). A fixed
threshold keeps large buffers in mappings of their own, returned when freed, and
:func:`release_free_memory` (called periodically) hands back free heap pages.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import logging

__all__ = [
    "MMAP_THRESHOLD",
    "YOUNG_THRESHOLD",
    "release_free_memory",
    "tune_allocator",
    "tune_garbage_collector",
]

log = logging.getLogger(__name__)

#: New container objects between two young-generation passes (CPython's default: 700).
YOUNG_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Collect less often, and never walk what was loaded at start-up again.

    Call once everything long-lived is imported (libraries, the app, tokenizer and
    language-model tables): :func:`gc.freeze` moves it out of the collector's passes.
    """
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)


#: Blocks at least this large get a mapping of their own (glibc's initial default).
MMAP_THRESHOLD = 128 * 1024
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, from <malloc.h>


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (mallopt and malloc_trim are glibc's), else None."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def tune_allocator() -> bool:
    """Fix glibc's mmap and trim thresholds (see the module docstring); False elsewhere."""
    libc = _glibc()
    if libc is None:
        log.info("not glibc: the allocator keeps its defaults")
        return False
    return bool(
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        and libc.mallopt(_M_TRIM_THRESHOLD, MMAP_THRESHOLD)
    )


def release_free_memory() -> bool:
    """Return the allocator's free pages to the system (glibc's ``malloc_trim``).

    True when some memory was released. Cheap enough for a timer every few seconds.
    """
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
