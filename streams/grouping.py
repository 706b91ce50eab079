"""A batch of packed records grouped by key, each key with the last event it came in.

The agents that keep tables per key (:mod:`agents.alerts`, :mod:`agents.customers`)
read their input the same way: unpack each message's records
(:func:`streams.sinks.packed` wrote them), group them by key, and remember the
event each key came in, because Faust writes a table change to the changelog
partition of the *current* event (:func:`streams.internals.set_current_event`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, TypeVar

from streams.sinks import unpacked

log = logging.getLogger(__name__)

T = TypeVar("T")

TURN_S = 0.02
"""Longest stretch of a batch's per-key work before :func:`in_turns` lets other tasks run."""


def group_by_key(
    events: Sequence[Any], decode: Callable[[Any], T], key_of: Callable[[T], str]
) -> dict[str, tuple[Any, list[T]]]:
    """Unpack a batch's records and group them by key, with the last event of each key.

    The event matters: Faust writes a table change to the changelog partition of
    the *current* event, which must be the partition the key's records live on
    (:func:`streams.sinks.packed` sends every record to the partition of its key).
    """
    groups: dict[str, tuple[Any, list[T]]] = {}
    for event in events:
        try:
            raws = unpacked(event.message.value)
        except ValueError:
            # Written by our own agents: a bad one is a bug to report, not a reason to stop.
            log.exception("undecodable message on %s", event.message.topic)
            continue
        for raw in raws:
            try:
                item = decode(raw)
            except ValueError:
                log.exception("undecodable record on %s: %.200r", event.message.topic, raw)
                continue
            key = key_of(item)
            items = groups[key][1] if key in groups else []
            items.append(item)
            groups[key] = (event, items)
    return groups


def last_event_per_partition(groups: dict[str, tuple[Any, list[Any]]]) -> dict[int, Any]:
    """An event of each input partition :func:`group_by_key`'s keys came in: the event
    of the last key grouped there (any event of a partition names its changelog)."""
    return {event.message.partition: event for event, _ in groups.values()}


async def in_turns(
    items: Iterable[T], *, turn_s: float = TURN_S, clock: Callable[[], float] = time.perf_counter
) -> AsyncIterator[T]:
    """``items`` one by one, letting the event loop run other tasks after every ``turn_s``
    of work (the caller's, between items).

    Every agent of a worker shares one event loop, and a batch of a few thousand keys
    held it for 0.1-1 s at a time (alerts and customer profiles, under load), during which
    no other agent could take, score or index its next batch: communications waited
    behind another agent's table work. Yielding costs one loop pass per ``turn_s``.

    Safe inside a key loop: the batch's events stay unacked, so a rebalance waits for the
    batch as before, and a key's table writes name their event in this task's context
    (:func:`streams.internals.set_current_event` sets a context variable, which other
    tasks do not share; :mod:`streams.batches` keeps each waiting event its own).
    """
    began = clock()
    for item in items:
        yield item
        if clock() - began >= turn_s:
            await asyncio.sleep(0)
            began = clock()
