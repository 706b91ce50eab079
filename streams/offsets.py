"""Offsets of the topics Faust reads become committable only once an agent has
delivered their batch.

These are the internal topics the alert, conversation and customer agents read (the
input topics are read without Faust: :mod:`streams.inputs`). Faust marks a message
as done ("acked") in two situations where crmstream has not delivered it anywhere,
and then commits its offset:

- a message fetched before a rebalance and reaching the stream after it (an older
  consumer-group generation) or while flow is suspended is *skipped*, and Faust
  acks skipped messages "so that the lag does not grow";
- :meth:`faust.Stream.take_events` (and :func:`streams.batches.take_batches`, which
  keeps its acks) acks a batch in a ``finally`` block, so a batch whose agent raised
  (or whose generator was closed) counts as done.

The message is read again after the rebalance, but its offset may already be
committed: if the worker dies before the second reading is delivered (``kill -9``
in the fault tests), the event is lost. Faust's ``_new_offset`` also tolerates
one missing offset at the head of the acked ones (upstream issue
faust-streaming/faust#606), which is exactly what steps over a skipped message.

Faust also mistakes the messages it fetched just before seeking a newly assigned
partition for a gap (see :meth:`DeliveredOffsetsConsumer.perform_seek`).

So here an agent reads its input through :func:`delivered_batches`, which marks a
batch as delivered when the agent asks for the next one (its sinks have
returned), and :class:`DeliveredOffsetsConsumer` counts only delivered messages
as done. A message acked without having been delivered is remembered as
*refused*: no commit goes past it until a delivered copy of it is acked (after
the rebalance's seek, the partition is read again from its committed offset).
At worst a partition's commits wait, visible as lag.

Faust also loses a message before any stream now and then (its fetcher counts a
message as read when its delivery races the flow's suspension at a rebalance):
nothing is acked or refused for it, and when two or more such offsets lie at the
head of a partition, Faust waits for them forever (the worker looks healthy, its
lag never shrinks; a CI run timed out on it). Such a hole is read again
(:meth:`DeliveredOffsetsConsumer._mend_head_hole`). Not covered: a single one right
at the committed offset is still stepped over by Faust's one-offset tolerance,
kept because a transaction marker there looks the same.

And Faust empties every stream's queue whenever it resumes the flow, even a flow that
was never suspended. At the end of a recovery it resumes the stream partitions, seeks
them to their committed offsets and then resumes the flow once more
(``Recovery.on_recovery_completed``): what was read during the seek and still sat in a
queue (an agent busy with a batch takes nothing) was thrown away, neither acked nor
read again, since the partition's position was already past it. Later messages made
it a hole at the head (mended above, or stepped over when it was a single one); with
nothing after it, as the secured test's five replayed events, it was never read. The
app's :class:`SteadyFlowControl` empties the queues only when the flow resumes after a
suspension (a rebalance), which is what the emptying is for.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence, Set
from typing import Any

from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.types import TP, EventT, Message
from mode.utils.queues import FlowControlEvent

from streams.batches import take_batches

__all__ = ["DeliveredOffsetsConsumer", "SteadyFlowControl", "capped_offset", "delivered_batches"]

log = logging.getLogger(__name__)

# How long a hole at the head of a partition may last before it is read again: a
# copy read again after a rebalance's seek fills its hole within a batch or two.
HOLE_PATIENCE_S = 10.0

# Messages whose batch an agent has delivered. Weak: a message is forgotten with
# its last reference (Faust acks it right after the agent asks for the next batch).
_delivered: weakref.WeakSet[Message] = weakref.WeakSet()


async def delivered_batches(
    stream: Any, max_events: int, within: float
) -> AsyncIterator[Sequence[EventT[Any]]]:
    """Batches of a Faust stream (:func:`streams.batches.take_batches`), marking each as
    delivered when the agent comes back for the next one (never when its body raised)."""
    inbound = stream.app.monitor.stream_inbound_time
    async for events in take_batches(stream, max_events, within):
        # Faust's consumer thread logs "Stream has not started processing" for a
        # partition whose stream never noted an event here; its sensor notes each one,
        # and crmstream's per-batch sensor (streams.app) skips that hook, so a batch does.
        now = time.monotonic()
        for tp in {event.message.tp for event in events}:
            inbound[tp] = now
        yield events
        _delivered.update(event.message for event in events)


class SteadyFlowControl(FlowControlEvent):
    """Faust's flow control, emptying the stream queues only when a suspended flow resumes.

    Faust suspends the flow at a rebalance; what its queues hold then was read for the
    old assignment and is dropped when the flow resumes. Resuming a flow that is
    running drops nothing: what is queued was read for the current assignment (see the
    module's last paragraph for the loss this prevents).
    """

    def resume(self) -> None:
        if self.is_active():
            return
        super().resume()


def capped_offset(new: int | None, committed: int | None, refused: Set[int]) -> int | None:
    """The offset to commit: Faust's ``new`` one, but never past a refused message.

    ``committed`` is the partition's committed offset (the next one to read),
    ``refused`` the offsets of messages acked without being delivered.

    >>> capped_offset(120, 100, set())
    120
    >>> capped_offset(120, 100, {104, 110})  # messages 100..103 are done; 104 is not
    104
    >>> capped_offset(120, 104, {104}) is None  # nothing new to commit until 104 is done
    True
    >>> capped_offset(None, 100, {104}) is None
    True
    """
    if new is None:
        return None
    blocking = [offset for offset in refused if offset < new]
    if blocking:
        new = min(blocking)
    return new if committed is None or new > committed else None


def stuck_at_head(committed: int | None, acked: Sequence[int]) -> bool:
    """Whether a partition's commits are stuck for good: its lowest acked offset lies
    more than one beyond the committed one (Faust steps over one missing offset at the
    head, a transaction marker's, and waits forever for more). ``acked`` is sorted.

    >>> stuck_at_head(100, [100, 101]), stuck_at_head(100, [101]), stuck_at_head(100, [105])
    (False, False, True)
    >>> stuck_at_head(None, [105]), stuck_at_head(100, [])
    (False, False)
    """
    return committed is not None and bool(acked) and acked[0] - committed > 1


class DeliveredOffsetsConsumer(AIOKafkaConsumer):
    """Faust's Kafka consumer, committing only offsets of delivered messages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refused: defaultdict[TP, set[int]] = defaultdict(set)
        # Head holes (their committed offset, since when), those being read again and
        # those found to hold nothing (see _mend_head_hole).
        self._holes: dict[TP, tuple[int, float]] = {}
        self._mending: set[TP] = set()
        self._passable: dict[TP, tuple[int, int]] = {}
        self._seeks: set[asyncio.Task[None]] = set()

    def ack(self, message: Message) -> bool:
        if message in _delivered or not self.app.topics.acks_enabled_for(message.topic):
            refused = self._refused.get(message.tp)
            if refused:  # rare: only after a skip; every other ack skips this
                refused.discard(message.offset)
            return super().ack(message)
        if not message.acked:
            # Done with this copy (a rebalance must not wait for it), but its offset
            # stays uncommitted until a delivered copy of it is acked.
            message.acked = True
            self._unacked_messages.discard(message)
            self._refused[message.tp].add(message.offset)
            log.info(
                "not committing %s[%d]@%d: acked without being delivered (read again)",
                message.topic,
                message.partition,
                message.offset,
            )
        return False

    async def perform_seek(self) -> None:
        await super().perform_seek()
        # Faust sets each partition's read offset to its committed offset (the *next* one
        # to read) and then takes it for the *last* one read. Messages fetched just before
        # the seek (Faust resumes the partitions first, faust-streaming/faust#216) then
        # look like a gap over everything read already: a gap counts as done, and is
        # added to the acked offsets again, so commits crawl one offset per commit for
        # thousands of commits. Forgetting the read offset starts the count afresh; the
        # copies read again after the seek are dropped as already read.
        for tp in self.assignment():
            if self.app.topics.acks_enabled_for(tp.topic):
                self._read_offset[tp] = None

    def _new_offset(self, tp: TP) -> int | None:
        committed = self._committed_offset[tp]
        refused = self._refused[tp]
        if committed is not None:
            # Done since (read again and delivered, here or by the partition's last owner).
            refused.difference_update([offset for offset in refused if offset < committed])
        acked = self._acked[tp]
        # A duplicate would end Faust's run of offsets early. Offsets below the committed
        # one (a gap Faust noted before a commit passed it) would have it return an
        # offset below the committed one: the worker crashed on that.
        done = [offset for offset in acked if committed is not None and offset < committed]
        if committed is not None and self._gap[tp]:
            self._gap[tp].chop(0, committed)
        self._acked_index[tp].difference_update(done)
        acked[:] = sorted(set(acked).difference(done))
        acked_before = list(acked)
        new = super()._new_offset(tp)  # forgets the acked offsets below ``new``
        if new is None and stuck_at_head(committed, acked):
            new = self._mend_head_hole(tp)
        else:
            self._holes.pop(tp, None)
        capped = capped_offset(new, committed, refused)
        blocking = [offset for offset in refused if new is not None and offset < new]
        if blocking:
            # Stopped at a refused message: what lies beyond it is still to commit later.
            stop = min(blocking)
            kept = sorted({o for o in (*acked_before, *self._acked[tp]) if o >= stop})
            self._acked[tp][:] = kept
            self._acked_index[tp].update(kept)
        return capped

    def _mend_head_hole(self, tp: TP) -> int | None:
        """Commits of ``tp`` are stuck behind offsets no batch delivered: the offset to
        commit now, if any.

        Faust loses a message before any stream now and then (its fetcher counts a
        message as read when its delivery races a suspension of the flow at a
        rebalance), and then waits for it forever: the worker looks alive, its lag never
        shrinks. So a hole that lasts :data:`HOLE_PATIENCE_S` is read again from the
        committed offset (what follows it is delivered twice: at least once). A hole
        wholly below the log's start (retention) holds nothing to read: it is stepped over.
        """
        committed = self._committed_offset[tp]
        acked = self._acked[tp]
        assert committed is not None and acked
        end = acked[0]
        if self._passable.pop(tp, None) == (committed, end):
            acked[:0] = range(committed, end)
            self._acked_index[tp].update(range(committed, end))
            return super()._new_offset(tp)
        now = time.monotonic()
        hole, since = self._holes.get(tp, (None, now))
        if hole != committed:
            self._holes[tp] = (committed, now)
        elif now - since >= HOLE_PATIENCE_S and tp not in self._mending:
            del self._holes[tp]  # patience again after this try
            self.read_again(tp, committed, end)
        return None

    def read_again(self, tp: TP, start: int, end: int) -> None:
        """Read ``tp`` again from ``start``: nothing of ``start..end - 1`` was delivered
        (unless a reading again of ``tp`` is under way)."""
        if tp in self._mending:
            return
        self._mending.add(tp)
        task = asyncio.get_running_loop().create_task(self._read_again(tp, start, end))
        self._seeks.add(task)
        task.add_done_callback(self._seeks.discard)

    async def _read_again(self, tp: TP, start: int, end: int) -> None:
        """Seek ``tp`` back to the hole ``start..end - 1`` (see :meth:`_mend_head_hole`)."""
        try:
            if tp not in self.assignment():  # its new owner reads from the committed offset
                return
            where = f"{tp.topic}[{tp.partition}] offsets {start}..{end - 1}"
            earliest = (await self.earliest_offsets(tp)).get(tp, 0)
            if earliest >= end:
                log.warning("%s: below the log start (%d), going on from %d", where, earliest, end)
                self._passable[tp] = (start, end)
                return
            log.warning("%s were never delivered: reading again from %d", where, start)
            await self.seek(tp, start)
            # As after a rebalance's seek (perform_seek): Faust would take a message still
            # buffered from before the seek for a gap over the hole, and a gap counts as done.
            self._read_offset[tp] = None
        finally:
            self._mending.discard(tp)
