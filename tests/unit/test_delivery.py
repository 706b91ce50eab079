"""A batch delivered while the next is computed (streams.delivery), on a recording stream."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from faust.types import TP, Message

from streams import offsets
from streams.delivery import OverlappedDelivery

PARTITION = TP("crm.communications", 0)


class Event:
    def __init__(self, offset: int) -> None:
        self.message = Message(
            PARTITION.topic, 0, offset, 0.0, 0, None, b"k", b"{}", None, tp=PARTITION
        )


class RecordingStream:
    """What the delivery needs of a Faust stream: ``ack``, recorded with whether the
    message counted as delivered at that moment."""

    def __init__(self) -> None:
        self.acks: list[tuple[int, bool]] = []

    async def ack(self, event: Event) -> bool:
        self.acks.append((event.message.offset, event.message in offsets._delivered))
        return True


def batches(*sizes: int) -> list[list[Event]]:
    out, offset = [], 0
    for size in sizes:
        out.append([Event(offset + i) for i in range(size)])
        offset += size
    return out


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, timeout=30))


def test_the_next_batch_is_computed_while_the_last_is_delivered_in_order() -> None:
    stream, log = RecordingStream(), []
    released = {0: asyncio.Event(), 1: asyncio.Event(), 2: asyncio.Event()}

    async def deliver(k: int) -> None:
        log.append(f"deliver {k} starts")
        await released[k].wait()
        log.append(f"deliver {k} done")

    async def agent(taken: Sequence[list[Event]]) -> None:
        async with OverlappedDelivery(stream) as overlap:
            for k, events in enumerate(taken):
                async with overlap.batch(events) as pending:
                    log.append(f"compute {k}")
                    if k == 1:  # batch 0 is in flight while batch 1 is computed
                        released[0].set()
                    if k == 2:
                        released[1].set()
                        released[2].set()
                    pending.deliver(deliver(k))

    run(agent(batches(2, 3, 1)))
    assert log == [
        "compute 0",
        "deliver 0 starts",
        "compute 1",
        "deliver 0 done",
        "deliver 1 starts",
        "compute 2",
        "deliver 1 done",
        "deliver 2 starts",
        "deliver 2 done",
    ]
    # Each event acked once, after its batch was delivered, batch after batch.
    assert stream.acks == [(offset, True) for offset in range(6)]


def test_a_failed_delivery_raises_at_the_next_batch_and_nothing_of_it_counts_as_delivered() -> None:
    stream = RecordingStream()
    first, second = batches(2, 2)

    async def broken() -> None:
        raise ConnectionError("elasticsearch gave up")

    async def fine() -> None:
        return None

    async def agent() -> None:
        async with OverlappedDelivery(stream) as overlap:
            async with overlap.batch(first) as pending:
                pending.deliver(broken())
            async with overlap.batch(second) as pending:
                pending.deliver(fine())

    with pytest.raises(ConnectionError, match="gave up"):
        run(agent())
    # Both batches acked, neither delivered: their offsets are not committed.
    assert sorted(stream.acks) == [(0, False), (1, False), (2, False), (3, False)]


def test_a_batch_whose_computation_raised_is_acked_undelivered() -> None:
    stream = RecordingStream()
    (events,) = batches(3)

    async def agent() -> None:
        async with OverlappedDelivery(stream) as overlap:
            async with overlap.batch(events):
                raise ValueError("a bug, not data")

    with pytest.raises(ValueError):
        run(agent())
    assert stream.acks == [(0, False), (1, False), (2, False)]


def test_stopping_waits_for_the_batch_in_flight_and_gives_up_a_stuck_one() -> None:
    stream = RecordingStream()
    quick, stuck = batches(2, 1)

    async def slow() -> None:
        await asyncio.sleep(0.05)

    async def never() -> None:
        await asyncio.Event().wait()

    async def agent(events: list[Event], delivery: Any) -> None:
        async with OverlappedDelivery(stream, stop_patience_s=0.2) as overlap:
            async with overlap.batch(events) as pending:
                pending.deliver(delivery)

    run(agent(quick, slow()))
    assert stream.acks == [(0, True), (1, True)]
    run(agent(stuck, never()))
    assert stream.acks[2:] == [(2, False)]


def test_a_batch_needs_exactly_one_delivery() -> None:
    stream = RecordingStream()
    first, second = batches(1, 1)

    async def fine() -> None:
        return None

    async def agent_without_delivery() -> None:
        async with OverlappedDelivery(stream) as overlap:
            async with overlap.batch(first):
                pass

    async def agent_with_two() -> None:
        async with OverlappedDelivery(stream) as overlap:
            async with overlap.batch(second) as pending:
                pending.deliver(fine())
                pending.deliver(fine())

    with pytest.raises(RuntimeError, match="without a delivery"):
        run(agent_without_delivery())
    with pytest.raises(RuntimeError, match="delivered once"):
        run(agent_with_two())
    assert stream.acks == [(0, False), (1, False)]
