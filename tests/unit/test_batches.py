"""Batches from a Faust stream (streams.batches), run on Faust's in-memory agent test context."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import faust

from streams.batches import take_batches
from streams.internals import set_current_event

# A throwaway app: agents' test contexts run on in-memory channels, no broker is reached.
app = faust.App("crmstream-batches-test", broker="kafka://127.0.0.1:1", store="memory://")
HOUR = 3600.0


async def batches_of(
    values: Sequence[int],
    take: Callable[[Any], AsyncIterator[Sequence[Any]]],
    *,
    between: Callable[[list[list[int]], Any], Awaitable[None]] | None = None,
    expect: int | None = None,
) -> list[list[int]]:
    """Put ``values`` into an agent that takes batches with ``take``; the batches it saw
    once ``expect`` events came. ``between`` runs after each batch, before the next is
    asked for (with the batches so far and the running agent)."""
    seen: list[list[int]] = []
    all_seen = asyncio.Event()

    async def body(stream: Any) -> None:
        async for batch in take(stream):
            seen.append([event.value for event in batch])
            if sum(map(len, seen)) >= (expect or len(values)):
                all_seen.set()
            if between is not None:
                await between(seen, running)

    agent: Any = app.agent(name=f"batches-{len(app.agents)}")(body)
    async with agent.test_context() as running:
        for value in values:
            await running.put(value, wait=False)
        await all_seen.wait()
    return seen


def run(coroutine: Any) -> Any:
    # A generous bound: a wait of an hour (the failure these tests look for) ends here.
    return asyncio.run(asyncio.wait_for(coroutine, timeout=60))


def test_every_event_once_in_order_and_never_more_than_max_per_batch() -> None:
    values = list(range(23))
    seen = run(batches_of(values, lambda stream: take_batches(stream, 5, 0.01)))
    assert [v for batch in seen for v in batch] == values
    assert all(1 <= len(batch) <= 5 for batch in seen)


def test_the_same_events_in_the_same_order_as_faust_take_events() -> None:
    values = list(range(40))
    ours = run(batches_of(values, lambda stream: take_batches(stream, 7, 0.01)))
    fausts = run(batches_of(values, lambda stream: stream.take_events(7, within=0.01)))
    assert [v for b in ours for v in b] == [v for b in fausts for v in b] == values


def test_events_that_queued_while_a_batch_was_processed_do_not_wait_again() -> None:
    # The clock says the first batch took longer than `within` (an hour) to process; the
    # events that came meanwhile go out without another hour's wait (Faust's
    # take_events would wait it, and this test would time out).
    now = [0.0]

    async def slow_processing(seen: list[list[int]], running: Any) -> None:
        if len(seen) == 1:
            now[0] += 2 * HOUR
            for value in (100, 101):  # wait=False: the agent itself is busy with us
                await running.put(value, wait=False)

    seen = run(
        batches_of(
            [1, 2, 3],  # a full batch: out at once
            lambda stream: take_batches(stream, 3, HOUR, clock=lambda: now[0]),
            between=slow_processing,
            expect=5,
        )
    )
    assert seen == [[1, 2, 3], [100, 101]]


def test_a_batch_is_not_due_before_within_has_passed_since_the_last_one() -> None:
    # The clock stands still: a batch that is not full is not due, so 4 and 5 (queued
    # during the first batch) wait for 6, which comes a moment later; a batch that went
    # early would be [4, 5].
    later: list[asyncio.Task[None]] = []

    async def six_a_moment_later(seen: list[list[int]], running: Any) -> None:
        async def put_six() -> None:
            await asyncio.sleep(0.1)
            await running.put(6, wait=False)

        if len(seen) == 1:
            later.append(asyncio.create_task(put_six()))

    seen = run(
        batches_of(
            [1, 2, 3, 4, 5],
            lambda stream: take_batches(stream, 3, HOUR, clock=lambda: 0.0),
            between=six_a_moment_later,
            expect=6,
        )
    )
    assert seen == [[1, 2, 3], [4, 5, 6]]


def test_an_event_that_waits_for_the_held_batch_stays_its_own() -> None:
    # The grouping agents name each key's event as the stream's current event (for
    # Faust's table writes). One that does so after an await, while a new event waits for
    # the held batch, must not make that new event's place in the buffer its own: the
    # new event would be lost and an old one taken twice.
    held: dict[str, Any] = {}

    async def names_an_old_event_after_an_await(seen: list[list[int]], running: Any) -> None:
        if len(seen) == 1:
            for value in (100, 101):
                await running.put(value, wait=False)
            await asyncio.sleep(0.05)  # the stream takes 100, which waits for this batch
            set_current_event(held["stream"], held["first"])

    def take(stream: Any) -> AsyncIterator[Sequence[Any]]:
        held["stream"] = stream

        async def batches() -> AsyncIterator[Sequence[Any]]:
            async for batch in take_batches(stream, 5, 0.01):  # not full: taken in time
                held.setdefault("first", batch[0])
                yield batch

        return batches()

    seen = run(batches_of([1, 2, 3], take, between=names_an_old_event_after_an_await, expect=5))
    assert seen == [[1, 2, 3], [100, 101]]
