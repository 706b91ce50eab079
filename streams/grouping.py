"""A batch of packed records grouped by key, each key with the last event it came in.

The agents that keep tables per key (:mod:`agents.alerts`, :mod:`agents.customers`)
read their input the same way: unpack each message's records
(:func:`streams.sinks.packed` wrote them), group them by key, and remember the
event each key came in, because Faust writes a table change to the changelog
partition of the *current* event (:func:`streams.internals.set_current_event`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from streams.sinks import unpacked

log = logging.getLogger(__name__)

T = TypeVar("T")


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
