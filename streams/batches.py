"""Batches from a Faust stream, whose wait counts from the previous batch.

Faust's ``Stream.take_events(max_, within)`` starts its wait for a batch only after the
agent is done with the previous one, and waits the whole ``within`` unless the batch
fills. When processing a batch takes about as long as that wait, the events that came
meanwhile sit out a second wait before anyone looks at them: the worker idles while
its input queues, its throughput under moderate load drops by a third, and the
backlog that builds up shows as seconds of latency at half the sustained rate
(measured with the bench's paced runs: batches of ~200 events whose youngest event was
already 1.5–2.5 s old).

:func:`take_batches` keeps Faust's buffer, acks and back-pressure, with one rule
changed: a batch is due ``within`` after the previous one was *taken*. If processing
took longer than that, the next batch goes as soon as what queued meanwhile has been
read into the buffer (the buffer stopped growing for a moment, or is full). A quiet
stream still sends an event after at most ``within``; a busy one never idles.

It reaches into the same Faust stream internals as ``take_events`` (its buffering
processor, passive draining and acks), listed here so that an upgrade breaks in one
place.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from typing import Any

from faust.types import EventT
from mode.utils.aiter import aiter
from mode.utils.futures import notify

log = logging.getLogger(__name__)

#: Once a batch is due, how long the buffer must stop growing before it goes out: the
#: drainer reads queued events into the buffer in a few milliseconds per hundred.
SETTLE_S = 0.003


def take_batches(
    stream: Any,
    max_events: int,
    within: float,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[Sequence[EventT[Any]]]:
    """Lists of up to ``max_events`` events of ``stream``, due ``within`` seconds after
    the previous list was taken; each list is acked when the caller asks for the next.
    """
    batches = _batches(stream, max_events, within, clock)
    # As Faust's take_events: the stream closes it on stop, however it was left.
    stream._active_agens.add(batches)
    return batches


async def _batches(
    stream: Any, max_events: int, within: float, clock: Callable[[], float]
) -> AsyncGenerator[Sequence[EventT[Any]], None]:
    events: list[EventT[Any]] = []
    full = asyncio.Event()
    arrived = asyncio.Event()  # set by every event the buffer takes
    consumed = asyncio.Event()
    consuming: asyncio.Future[None] | None = None

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming
        # The event this value came in, read before any wait: while the caller holds a
        # batch, it may name its own current event (streams.internals.set_current_event,
        # for its table writes), and the stream's attribute would then be that one.
        event = stream.current_event
        try:
            if consuming is not None:  # the caller holds a batch: wait for it
                try:
                    await consuming
                finally:
                    consuming = None
            if event is None:
                raise RuntimeError("a buffered event without its Faust event")
            events.append(event)
            arrived.set()
            if len(events) >= max_events:
                full.set()
                consumed.clear()
                await stream.wait(consumed)  # never more than max_events at once
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # as take_events: the stream crashes, loudly
            log.exception("could not add to the batch buffer: %r", exc)
            await stream.crash(exc)
        return value

    enable_acks = stream.enable_acks
    stream.enable_acks = False  # acked here, once the caller is done with a batch
    stream.add_processor(add_to_buffer)
    stream._enable_passive(aiter(stream.channel))
    taken_at = clock()
    try:
        while not stream.should_stop:
            await _wait_for_batch(stream, events, full, arrived, taken_at + within, clock)
            if not events:
                continue
            consuming = stream.loop.create_future()
            batch = list(events)
            taken_at = clock()
            try:
                yield batch
            finally:
                events.clear()
                for event in batch:
                    await stream.ack(event)
                notify(consuming)
                full.clear()
                consumed.set()
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(add_to_buffer)


async def _wait_for_batch(
    stream: Any,
    events: list[Any],
    full: asyncio.Event,
    arrived: asyncio.Event,
    due_at: float,
    clock: Callable[[], float],
) -> None:
    """Until the buffer is full, or the batch is due and the buffer holds something that
    stopped growing (or the stream stops)."""
    while not stream.should_stop and not full.is_set():
        remaining = due_at - clock()
        if remaining > 0:
            await stream.wait_for_stopped(full, timeout=remaining)
        elif not events:  # due already: the first event goes as soon as it settles
            arrived.clear()
            await stream.wait_for_stopped(arrived, timeout=1.0)
        else:
            before = len(events)
            await stream.wait_for_stopped(full, timeout=SETTLE_S)
            if len(events) == before:
                return
