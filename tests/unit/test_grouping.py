"""A batch of packed records grouped by key, each key with the last event it came in."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import pytest

from streams.grouping import group_by_key, in_turns, last_event_per_partition
from streams.sinks import packed


@dataclass
class Message:
    value: bytes | None
    partition: int
    topic: str = "crm.internal"


@dataclass
class Event:
    message: Message


def decode(raw: Any) -> dict[str, Any]:
    if "key" not in raw:
        raise ValueError("no key")
    return dict(raw)


def events_of(records: list[tuple[bytes, bytes]], partitions: int = 3) -> list[Event]:
    return [Event(Message(m.value, m.partition or 0)) for m in packed(records, partitions)]


def test_records_are_grouped_by_key_in_order_with_the_last_event_of_their_key() -> None:
    first = events_of([(b"a", b'{"key":"a","n":1}'), (b"b", b'{"key":"b","n":1}')])
    second = events_of([(b"a", b'{"key":"a","n":2}')])
    groups = group_by_key([*first, *second], decode, lambda item: item["key"])
    assert [item["n"] for item in groups["a"][1]] == [1, 2]
    assert [item["n"] for item in groups["b"][1]] == [1]
    assert groups["a"][0] is second[0]
    assert groups["b"][0] in first and groups["b"][0].message.value is not None
    assert b'"b"' in groups["b"][0].message.value
    by_partition = last_event_per_partition(groups)
    assert set(by_partition) == {0, 1, 2} & {e.message.partition for e in [*first, *second]}
    assert all(event.message.partition == p for p, event in by_partition.items())
    assert all(event in [*first, *second] for event in by_partition.values())


def test_one_partition_gives_the_event_of_the_last_key_grouped_there() -> None:
    first = events_of([(b"a", b'{"key":"a"}'), (b"b", b'{"key":"b"}')], partitions=1)
    second = events_of([(b"a", b'{"key":"a"}')], partitions=1)
    groups = group_by_key([*first, *second], decode, lambda item: item["key"])
    assert last_event_per_partition(groups) == {0: first[0]}  # b's event: b was grouped last


def test_undecodable_messages_and_records_are_logged_and_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = Event(Message(b"[oops", 0))
    keyless = events_of([(b"x", b'{"n":1}'), (b"y", b'{"key":"y"}')], partitions=1)
    with caplog.at_level(logging.ERROR, logger="streams.grouping"):
        groups = group_by_key([broken, *keyless], decode, lambda item: item["key"])
    assert list(groups) == ["y"]
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "undecodable message on crm.internal",
        "undecodable record on crm.internal",
    ]


def test_in_turns_gives_every_item_in_order_and_lets_other_tasks_run_between_turns() -> None:
    now = [0.0]
    ran: list[str] = []

    async def other_task() -> None:
        ran.append("other")

    async def loop() -> list[object]:
        seen: list[object] = []
        asyncio.get_running_loop().create_task(other_task())
        async for item in in_turns(range(6), turn_s=1.0, clock=lambda: now[0]):
            seen.append(item)
            ran.append(f"item {item}")
            now[0] += 0.4  # the caller's work on each item takes 0.4 of the clock
        return seen

    assert asyncio.run(loop()) == list(range(6))
    # Turns of 1.0: after items 0-2 (1.2 of work) the other task has its turn.
    assert ran.index("other") == 3
    assert ran.count("other") == 1


def test_in_turns_of_quick_work_never_yields() -> None:
    ran: list[str] = []

    async def other_task() -> None:
        ran.append("other")

    async def loop() -> None:
        asyncio.get_running_loop().create_task(other_task())
        async for item in in_turns(range(100), turn_s=1.0, clock=lambda: 0.0):
            ran.append(str(item))

    asyncio.run(loop())
    assert ran[:100] == [str(i) for i in range(100)] and ran[100] == "other"
