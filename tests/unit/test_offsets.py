"""Input offsets: committable only once their batch is delivered (streams.offsets).

These drive Faust's own consumer bookkeeping (acks, committed offsets, the
offset it would commit next) without a broker: the loss they guard against
happens in that bookkeeping, before anything is sent to Kafka.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.types import TP, Message

from streams import offsets
from streams.app import alert_aggregates_topic, app
from streams.offsets import DeliveredOffsetsConsumer

TOPIC = alert_aggregates_topic.get_topic_name()
PARTITION = TP(TOPIC, 3)


def message(offset: int) -> Message:
    return Message(
        TOPIC, PARTITION.partition, offset, 0.0, 0, None, b"k", b"{}", None, tp=PARTITION
    )


def delivered(*messages: Message) -> None:
    """What :func:`streams.offsets.delivered_batches` does once an agent's batch is done."""
    offsets._delivered.update(messages)


def ack_delivered(consumer: Any, offsets_: range) -> None:
    """Messages at these offsets delivered by their batch, and acked."""
    batch = [message(offset) for offset in offsets_]
    delivered(*batch)
    for m in batch:
        consumer.ack(m)


@pytest.fixture
def consumer() -> Iterator[Any]:
    instance = app.consumer
    assert isinstance(instance, DeliveredOffsetsConsumer)
    # What the conductor records when the worker subscribes the agents' topics.
    app.topics.acking_topics.add(TOPIC)
    instance._committed_offset[PARTITION] = 100
    yield instance
    app.topics.acking_topics.discard(TOPIC)
    for table in (
        instance._acked,
        instance._acked_index,
        instance._gap,
        instance._refused,
    ):
        table.pop(PARTITION, None)
    instance._committed_offset.pop(PARTITION, None)


def test_the_app_uses_the_delivered_offsets_consumer() -> None:
    assert isinstance(app.consumer, DeliveredOffsetsConsumer)


def test_delivered_messages_are_committed(consumer: Any) -> None:
    ack_delivered(consumer, range(100, 110))
    assert consumer._new_offset(PARTITION) == 110


def test_a_message_acked_without_delivery_is_never_stepped_over(consumer: Any) -> None:
    # Message 100 reached the stream after a rebalance and was skipped (Faust acks it);
    # 101.. are read again and delivered.
    skipped = message(100)
    consumer.ack(skipped)
    later = [message(offset) for offset in range(101, 110)]
    delivered(*later)
    for m in later:
        consumer.ack(m)
    assert skipped.acked  # a rebalance does not wait for it
    # Faust's own bookkeeping commits past it (faust-streaming#606) ...
    acked = list(consumer._acked[PARTITION])
    assert AIOKafkaConsumer._new_offset(consumer, PARTITION) == 110
    consumer._acked[PARTITION][:], consumer._acked_index[PARTITION] = acked, set(acked)
    # ... this consumer does not, and keeps 101.. for later, however often it is asked.
    assert consumer._new_offset(PARTITION) is None
    assert consumer._new_offset(PARTITION) is None
    more = [message(offset) for offset in range(110, 115)]
    delivered(*more)
    for m in more:
        consumer.ack(m)
    assert consumer._new_offset(PARTITION) is None
    # Once a delivered copy of 100 is acked, everything up to 115 is committable.
    copy = message(100)
    delivered(copy)
    consumer.ack(copy)
    assert consumer._new_offset(PARTITION) == 115


def test_commits_stop_at_an_undelivered_message_in_the_middle(consumer: Any) -> None:
    batch = [message(offset) for offset in range(100, 110)]
    delivered(*batch[:5], *batch[6:])
    for m in batch:
        consumer.ack(m)
    assert consumer._new_offset(PARTITION) == 105
    consumer._committed_offset[PARTITION] = 105
    assert consumer._new_offset(PARTITION) is None
    copy = message(105)
    delivered(copy)
    consumer.ack(copy)
    assert consumer._new_offset(PARTITION) == 110


def test_delivered_batches_marks_a_batch_only_when_the_next_one_is_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batches = [[Event(message(1)), Event(message(2))], [Event(message(3))]]
    seen: list[bool] = []

    async def take_batches(stream: Any, max_events: int, within: float) -> Any:
        for batch in batches:
            yield batch

    monkeypatch.setattr(offsets, "take_batches", take_batches)

    stream = Stream()

    async def agent() -> None:
        async for events in offsets.delivered_batches(stream, 500, 0.1):
            seen.append(all(e.message in offsets._delivered for e in events))
            if events[0].message.offset == 3:
                break  # the agent stops (or raises) before asking for more

    asyncio.run(agent())
    assert seen == [False, False]
    # Each batch tells Faust's livelock detector that its partitions' stream is working.
    assert set(stream.app.monitor.stream_inbound_time) == {PARTITION}
    assert batches[0][0].message in offsets._delivered
    assert batches[1][0].message not in offsets._delivered


class Event:
    def __init__(self, message: Message) -> None:
        self.message = message


class Stream:
    """What delivered_batches reads of a Faust stream besides its events."""

    def __init__(self) -> None:
        self.app = SimpleNamespace(monitor=SimpleNamespace(stream_inbound_time={}))


def test_duplicate_acks_are_committed_in_one_go(consumer: Any) -> None:
    # Faust adds the offsets of a gap to the acked ones even when they were acked
    # already; with duplicates its run of consecutive offsets ended after one or two.
    ack_delivered(consumer, range(100, 110))
    consumer._acked[PARTITION].extend(range(100, 110))
    assert consumer._new_offset(PARTITION) == 110


class Seeks:
    """What the consumer asks of its Kafka client when it mends a hole (no broker here)."""

    def __init__(self, consumer: Any, monkeypatch: pytest.MonkeyPatch, log_start: int) -> None:
        self.sought: list[tuple[TP, int]] = []

        async def seek(tp: TP, offset: int) -> None:
            self.sought.append((tp, offset))

        async def earliest_offsets(*tps: TP) -> dict[TP, int]:
            return dict.fromkeys(tps, log_start)

        monkeypatch.setattr(consumer, "seek", seek)
        monkeypatch.setattr(consumer, "earliest_offsets", earliest_offsets)
        monkeypatch.setattr(consumer, "assignment", lambda: {PARTITION})
        monkeypatch.setattr(offsets, "HOLE_PATIENCE_S", 0.0)


def offsets_to_commit(consumer: Any, looks: int, looks_after_seeks: int = 0) -> list[int | None]:
    """What the consumer would commit, asked ``looks`` times, then ``looks_after_seeks``
    times once the seeks those started are done (as commits every few seconds would)."""

    async def look() -> list[int | None]:
        found = [consumer._new_offset(PARTITION) for _ in range(looks)]
        await asyncio.gather(*consumer._seeks)
        return found + [consumer._new_offset(PARTITION) for _ in range(looks_after_seeks)]

    return asyncio.run(look())


def test_a_hole_at_the_head_is_read_again_not_waited_for(
    consumer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 100..102 never reached a batch (Faust lost them); 103.. were delivered. Faust
    # itself would wait for them forever: the lag never shrinks.
    seeks = Seeks(consumer, monkeypatch, log_start=0)
    ack_delivered(consumer, range(103, 110))
    assert AIOKafkaConsumer._new_offset(consumer, PARTITION) is None

    assert offsets_to_commit(consumer, looks=2) == [None, None]
    assert seeks.sought == [(PARTITION, 100)]  # once, however often commits look
    # The copies read again are delivered: everything up to 110 is committed.
    ack_delivered(consumer, range(100, 110))
    assert consumer._new_offset(PARTITION) == 110


def test_a_hole_below_the_log_start_is_stepped_over(
    consumer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Retention removed 100..104 while nothing was committed: nothing there to read again.
    seeks = Seeks(consumer, monkeypatch, log_start=105)
    ack_delivered(consumer, range(105, 110))

    assert offsets_to_commit(consumer, looks=2, looks_after_seeks=1) == [None, None, 110]
    assert seeks.sought == []


def test_offsets_below_the_committed_one_are_dropped_not_committed_backwards(
    consumer: Any,
) -> None:
    # A gap Faust noted (a message buffered from before a seek back) and a commit that
    # passed it: Faust then returned an offset below the committed one, and the worker
    # crashed on it.
    consumer._gap[PARTITION].addi(101, 105)
    ack_delivered(consumer, range(100, 101))
    consumer._committed_offset[PARTITION] = 110
    assert consumer._new_offset(PARTITION) is None
    assert list(consumer._acked[PARTITION]) == []
    ack_delivered(consumer, range(110, 115))
    assert consumer._new_offset(PARTITION) == 115


def test_a_hole_is_given_time_to_fill_before_it_is_read_again(
    consumer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Copies read again after a rebalance's seek fill such a hole within a batch or two.
    seeks = Seeks(consumer, monkeypatch, log_start=0)
    monkeypatch.setattr(offsets, "HOLE_PATIENCE_S", 3600.0)
    ack_delivered(consumer, range(103, 110))

    assert offsets_to_commit(consumer, looks=2) == [None, None]
    assert seeks.sought == []
    ack_delivered(consumer, range(100, 103))
    assert consumer._new_offset(PARTITION) == 110


def test_resuming_a_running_flow_keeps_what_the_stream_queues_hold() -> None:
    # Faust's recovery seeks the stream partitions after resuming them and then resumes
    # the flow once more: what was read meanwhile and still queued (its agent busy with a
    # batch) was thrown away, never acked nor read again (the secured test's lost events).
    flow = app.flow_control
    was_active = flow.is_active()
    queue = app.FlowControlQueue(maxsize=10, clear_on_resume=True)  # as Faust's channels'
    try:
        flow.suspend()  # a rebalance
        queue.put_nowait("read for the old assignment")
        flow.resume()
        assert queue.qsize() == 0
        queue.put_nowait("read during the seek")
        flow.resume()  # the flow ran all along
        assert queue.qsize() == 1
    finally:
        flow.suspend()
        queue.clear()
        if was_active:
            flow.resume()
