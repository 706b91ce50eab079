"""Delivering a batch while the agent computes the next one.

The scoring agent used to compute a batch and then wait for its sinks (the
Elasticsearch bulk request, the brokers' acknowledgements) before it took the next
one: on the bench's sustained run, about 180 ms of waiting per batch beside about
100 ms of computing, with a core to spare. :class:`OverlappedDelivery` runs the sinks
of batch *k* while the agent computes batch *k + 1*.

What stays as it was:

- batches are delivered one at a time and in order, so a customer's records reach the
  scored topic (and the alert and profile tables) in the order they came;
- a batch's offsets become committable only once its delivery returned
  (:func:`streams.offsets.mark_delivered`), so a crash loses nothing: what was in
  flight is read again;
- at most one batch is in flight while the next is computed, so memory and the
  duplicates a crash can cause stay bounded by two batches;
- every taken event is acked exactly once: delivered, or refused (its offset is not
  committed, :class:`streams.offsets.DeliveredOffsetsConsumer`) when its batch
  failed or the agent stopped, so a rebalance never waits for it.

A delivery that fails (its sinks gave up) raises in the agent when the next batch is
handed over or when the agent stops, as it would have raised there before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

from faust.types import EventT

from streams.offsets import mark_delivered

__all__ = ["OverlappedDelivery", "PendingBatch"]

log = logging.getLogger(__name__)

#: On stop, how long the batch in flight may take to finish before it is given up
#: (its events are then read again by whoever owns the partition next).
STOP_PATIENCE_S = 10.0


class PendingBatch:
    """A batch being computed: :meth:`deliver` names the coroutine that delivers it."""

    def __init__(self, events: Sequence[EventT[Any]]) -> None:
        self.events = events
        self.delivery: Coroutine[Any, Any, None] | None = None

    def deliver(self, delivery: Coroutine[Any, Any, None]) -> None:
        """Deliver the batch with ``delivery``, once the batch before it is delivered."""
        if self.delivery is not None:
            delivery.close()
            raise RuntimeError("a batch is delivered once")
        self.delivery = delivery


class OverlappedDelivery:
    """One batch delivered in the background while the next one is computed.

    Use it with :func:`streams.batches.take_batches` called with ``ack_on_next=False``::

        async with OverlappedDelivery(stream) as overlap:
            async for events in take_batches(stream, 500, 0.1, ack_on_next=False):
                async with overlap.batch(events) as pending:
                    records = compute(events)
                    pending.deliver(sinks(records))
    """

    def __init__(self, stream: Any, *, stop_patience_s: float = STOP_PATIENCE_S) -> None:
        self.stream = stream
        self.stop_patience_s = stop_patience_s
        self._in_flight: asyncio.Task[None] | None = None

    async def __aenter__(self) -> OverlappedDelivery:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @asynccontextmanager
    async def batch(self, events: Sequence[EventT[Any]]) -> AsyncIterator[PendingBatch]:
        """Compute ``events`` inside the block, naming their delivery; on leaving it, wait
        for the batch in flight (raising its failure) and start this one's delivery.

        A batch whose block raised, or that named no delivery, is acked undelivered.
        """
        pending = PendingBatch(events)
        try:
            yield pending
            if pending.delivery is None:
                raise RuntimeError("a batch left without a delivery")
            await self.wait()  # the batch before: in order, one at a time
        except BaseException:
            if pending.delivery is not None:
                pending.delivery.close()
            await self._ack(events)
            raise
        loop = asyncio.get_running_loop()
        self._in_flight = loop.create_task(self._deliver(events, pending.delivery))
        await asyncio.sleep(0)  # let it send its requests before the next batch's computing

    async def wait(self) -> None:
        """Until the batch in flight is delivered; raises what its delivery raised."""
        task, self._in_flight = self._in_flight, None
        if task is not None:
            await task

    async def close(self) -> None:
        """Let the batch in flight finish (or give it up after ``stop_patience_s``)."""
        task, self._in_flight = self._in_flight, None
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=self.stop_patience_s)
        if not done:
            log.warning("stopping: a batch in flight given up (it is read again)")
            task.cancel()
            await asyncio.wait({task})
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "stopping: the last batch in flight failed (it is read again)",
                exc_info=task.exception(),
            )

    async def _deliver(
        self, events: Sequence[EventT[Any]], delivery: Coroutine[Any, Any, None]
    ) -> None:
        try:
            await delivery
            mark_delivered(events)
        finally:
            await self._ack(events)

    async def _ack(self, events: Sequence[EventT[Any]]) -> None:
        for event in events:
            await self.stream.ack(event)
