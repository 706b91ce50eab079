"""Batches delivered in order while the next is prepared; acks only after delivery."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from streams.delivery import InOrderDelivery


@dataclass
class Message:
    refs: int = 1  # Faust's own reference, released when the next batch is asked for

    def incref(self) -> None:
        self.refs += 1


@dataclass
class Event:
    name: str
    message: Message = field(default_factory=Message)
    log: list[str] = field(default_factory=list)

    def ack(self) -> None:
        self.message.refs -= 1
        self.log.append(f"ack {self.name}")


def test_deliveries_run_in_order_overlap_preparation_and_ack_after_delivery() -> None:
    log: list[str] = []

    async def main() -> None:
        delivery = InOrderDelivery()
        release = {name: asyncio.Event() for name in ("a", "b")}

        def deliver(name: str):  # type: ignore[no-untyped-def]
            async def run() -> None:
                log.append(f"start {name}")
                await release[name].wait()
                log.append(f"done {name}")

            return run

        first = [Event("a1", log=log), Event("a2", log=log)]
        await delivery.submit(first, deliver("a"))
        log.append("prepare b")  # the caller goes on while "a" is delivered
        assert all(e.message.refs == 2 for e in first)  # held: not committable yet
        second = [Event("b1", log=log)]
        submitting = asyncio.create_task(delivery.submit(second, deliver("b")))
        await asyncio.sleep(0.01)
        assert "start b" not in log  # one delivery at a time
        release["a"].set()
        await submitting
        release["b"].set()
        await delivery.drain()
        assert all(e.message.refs == 1 for e in [*first, *second])

    asyncio.run(main())
    assert log == [
        "prepare b",  # submit returned at once: the delivery runs at the next await
        "start a",
        "done a",
        "ack a1",
        "ack a2",
        "start b",
        "done b",
        "ack b1",
    ]


def test_a_failed_delivery_is_raised_and_its_events_stay_held() -> None:
    async def main() -> list[Event]:
        delivery = InOrderDelivery()
        events = [Event("x")]

        async def broken() -> None:
            raise RuntimeError("bulk failed")

        await delivery.submit(events, broken)
        with pytest.raises(RuntimeError, match="bulk failed"):
            await delivery.submit([Event("y")], broken)
        return events

    events = asyncio.run(main())
    assert events[0].message.refs == 2 and events[0].log == []


def test_close_gives_up_on_a_stuck_delivery_without_acking() -> None:
    async def main() -> Event:
        delivery = InOrderDelivery()
        event = Event("z")

        async def stuck() -> None:
            await asyncio.sleep(3600)

        await delivery.submit([event], stuck)
        with pytest.raises(TimeoutError):
            await delivery.close(timeout_s=0.05)
        return event

    event = asyncio.run(main())
    assert event.log == [] and event.message.refs == 2
