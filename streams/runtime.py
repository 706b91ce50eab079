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
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "tune_garbage_collector"]

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
