"""Batch timing of the input reader (streams.inputs.take_within), and its offsets.

The consumer here is a script of what aiokafka's ``getmany`` returns and how long it
waits; the reader against a real broker is tested by the integration tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from config.settings import Settings
from streams.inputs import incoming, input_group_id, next_offsets, take_within

TP0 = TopicPartition("t.crm.communications", 0)


def record(offset: int, tp: TopicPartition = TP0) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        tp.topic, tp.partition, offset, 1_700_000_000_000, 0, b"k", b"{}", None, 1, 2, ()
    )


class ScriptedConsumer:
    """``getmany`` answers from ``arrivals``: (time it arrives, record). Waiting moves
    the clock to the next arrival or to the end of the timeout, whichever is first."""

    def __init__(self, arrivals: Sequence[tuple[float, ConsumerRecord[bytes, bytes]]]) -> None:
        self.arrivals = list(arrivals)
        self.now = 0.0
        self.calls: list[tuple[int, int]] = []

    def clock(self) -> float:
        return self.now

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(r.topic, r.partition) for _, r in self.arrivals} | {TP0}

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int, max_records: int
    ) -> dict[Any, list[Any]]:
        self.calls.append((timeout_ms, max_records))

        def ready() -> list[ConsumerRecord[bytes, bytes]]:
            return [
                r
                for at, r in self.arrivals
                if at <= self.now
                and (not partitions or TopicPartition(r.topic, r.partition) in partitions)
            ]

        if not ready() and timeout_ms:
            upcoming = [at for at, _ in self.arrivals if at > self.now]
            deadline = self.now + timeout_ms / 1000
            self.now = min([deadline, *upcoming])
        taken = ready()[:max_records]
        self.arrivals = [(at, r) for at, r in self.arrivals if r not in taken]
        out: dict[Any, list[Any]] = {}
        for r in taken:
            out.setdefault(TopicPartition(r.topic, r.partition), []).append(r)
        return out


def take(consumer: ScriptedConsumer, max_events: int, due_at: float, within: float) -> Any:
    return asyncio.run(take_within(consumer, max_events, due_at, within, consumer.clock))


def test_a_full_batch_goes_at_once() -> None:
    consumer = ScriptedConsumer([(0.0, record(o)) for o in range(10)])
    batch = take(consumer, 4, due_at=0.1, within=0.1)
    assert [r.offset for r in batch[TP0]] == [0, 1, 2, 3]
    assert consumer.now == 0.0


def test_a_batch_waits_until_it_is_due_and_then_takes_what_came_meanwhile() -> None:
    consumer = ScriptedConsumer([(0.0, record(0)), (0.05, record(1)), (0.2, record(2))])
    batch = take(consumer, 500, due_at=0.1, within=0.1)
    assert [r.offset for r in batch[TP0]] == [0, 1]
    assert consumer.now == 0.1


def test_when_due_already_what_is_fetched_goes_without_waiting() -> None:
    # The previous batch took longer than ``within``: a busy input never idles.
    consumer = ScriptedConsumer([(0.0, record(o)) for o in range(3)])
    consumer.now = 5.0
    batch = take(consumer, 500, due_at=1.0, within=0.1)
    assert [r.offset for r in batch[TP0]] == [0, 1, 2]
    assert consumer.now == 5.0


def test_a_quiet_input_sends_its_first_event_as_soon_as_it_arrives_once_due() -> None:
    consumer = ScriptedConsumer([(3.25, record(7))])
    batch = take(consumer, 500, due_at=0.1, within=0.1)
    assert [r.offset for r in batch[TP0]] == [7]
    assert consumer.now == 3.25


def test_a_backlog_is_taken_evenly_from_its_partitions() -> None:
    # aiokafka hands out one partition's fetched records after another's.
    tp1 = TopicPartition("t.crm.communications", 1)
    backlog = [(0.0, record(o)) for o in range(100)] + [(0.0, record(o, tp1)) for o in range(100)]
    consumer = ScriptedConsumer(backlog)
    batch = take(consumer, 10, due_at=0.1, within=0.1)
    assert [r.offset for r in batch[TP0]] == [0, 1, 2, 3, 4]
    assert [r.offset for r in batch[tp1]] == [0, 1, 2, 3, 4]


def test_a_batch_never_holds_more_than_its_maximum() -> None:
    partitions = [TopicPartition("t.crm.communications", p) for p in range(6)]
    consumer = ScriptedConsumer([(0.0, record(o, tp)) for tp in partitions for o in range(9)])
    assert sum(len(r) for r in take(consumer, 4, due_at=0.0, within=0.1).values()) == 4
    assert sum(len(r) for r in take(consumer, 500, due_at=0.0, within=0.1).values()) == 50


def test_partitions_and_offsets_of_a_batch() -> None:
    tp1 = TopicPartition("t.crm.feedback", 1)
    consumer = ScriptedConsumer([(0.0, record(5)), (0.0, record(6)), (0.0, record(9, tp1))])
    batch = take(consumer, 500, due_at=0.0, within=0.1)
    assert next_offsets(batch) == {TP0: 7, tp1: 10}
    message = incoming(batch[tp1][0])
    assert (message.topic, message.partition, message.offset) == ("t.crm.feedback", 1, 9)


def test_the_inputs_have_a_group_of_their_own() -> None:
    settings = Settings(namespace="t1")
    assert input_group_id(settings) != settings.app_id
