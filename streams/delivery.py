"""Deliver a batch while the next one is prepared, without giving up at-least-once.

An agent that takes batches with Faust's ``take_events`` used to prepare a batch
(checks, scoring: CPU) and then wait for its deliveries (Elasticsearch bulk,
Kafka acknowledgements: about 60-100 ms of I/O per batch) before taking the next
one, so the worker's core idled during every batch's I/O. :class:`InOrderDelivery`
lets the agent prepare batch N+1 while batch N is being delivered:

- deliveries run one at a time, in batch order (the scored topic, the alert
  aggregates and the conversation turns keep the order the agent saw them in);
- Faust acknowledges a batch's events as soon as the agent asks for the next batch.
  :meth:`InOrderDelivery.submit` therefore first takes a reference on each event's
  message (Faust's ``Message.incref``, as a message read by two streams has), and
  the delivery releases it (``event.ack()``) once the batch is durably delivered:
  only then can Faust commit the offsets, so a crash still never skips an event;
- a delivery that fails is raised by the next :meth:`~InOrderDelivery.submit` or
  :meth:`~InOrderDelivery.drain`, and its events stay unacknowledged.

>>> import asyncio
>>> class Message:
...     def incref(self) -> None: print("held")
>>> class Event:
...     message = Message()
...     def ack(self) -> None: print("acked")
>>> async def deliver() -> None:
...     print("delivered")
>>> async def main() -> None:
...     delivery = InOrderDelivery()
...     await delivery.submit([Event()], deliver)
...     await delivery.drain()
>>> asyncio.run(main())
held
delivered
acked
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

__all__ = ["InOrderDelivery"]


class InOrderDelivery:
    """At most one batch in delivery; the next batch is prepared meanwhile."""

    def __init__(self) -> None:
        self._in_flight: asyncio.Task[None] | None = None

    async def submit(self, events: Sequence[Any], deliver: Callable[[], Awaitable[None]]) -> None:
        """Hold ``events`` and start ``deliver()`` once the previous delivery is done.

        Returns as soon as the delivery has started, so the caller can take and
        prepare the next batch while it runs.
        """
        for event in events:
            event.message.incref()  # Faust's own ack of the batch no longer commits it
        await self.drain()
        self._in_flight = asyncio.create_task(self._deliver(events, deliver))

    async def drain(self) -> None:
        """Wait for the delivery in flight (and raise what it raised)."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            await in_flight

    async def close(self, *, timeout_s: float) -> None:
        """Let the delivery in flight finish within ``timeout_s``, else cancel it (its
        events stay unacknowledged: they are read again, nothing is skipped)."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            await asyncio.wait_for(in_flight, timeout_s)

    @staticmethod
    async def _deliver(events: Sequence[Any], deliver: Callable[[], Awaitable[None]]) -> None:
        await deliver()
        for event in events:
            event.ack()  # the last reference: the offset becomes committable
