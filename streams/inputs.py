"""The input topics, read in batches with aiokafka and committed once delivered.

``crm.communications``, ``crm.feedback`` and ``crm.labels`` are read by one aiokafka
consumer per worker (group ``<app id>-input``), not by Faust agents. Faust's path
for a message (its consumer callback, a queue per topic, the stream, an event object
and an ack each) cost 0.11–0.13 ms of CPU per message on the bench's machine with an
agent that did nothing but take batches, against 0.003 ms for aiokafka's
``getmany``: a quarter of the worker's CPU per event, and its input offsets needed
the repairs of :mod:`streams.offsets`. The inputs feed no table directly (the
tables are fed by internal topics that Faust still reads), so they need none of
Faust's partition co-location.

Guarantees:

- **At least once.** A batch's offsets are committed only after every handler
  returned (its sinks were acknowledged). A handler that raises has its batch read
  again from the batch's first offsets, after a pause; nothing is committed past it.
- **Rebalances.** The batch in hand is finished and committed before a revocation
  completes; records of partitions no longer assigned when a batch is taken are
  left to their new owner.
- **Exactly once** (``exactly_once``): the handler's Kafka transactions store the
  input offsets (:mod:`streams.transactions`, with :func:`input_group_id`); the
  consumer commits none of that topic's offsets itself.

Batch timing as before (:mod:`streams.batches`): a batch is due ``within`` after the
previous one was taken, goes at once when full, and a busy input never waits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata

from config.settings import Settings
from streams import metrics
from streams.kafka import client_options
from streams.pipeline import Incoming

__all__ = ["Input", "InputReader", "input_group_id", "take_within"]

log = logging.getLogger(__name__)

Handler = Callable[[list[Incoming]], Awaitable[None]]
Batch = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]

#: Pause before a batch whose handler raised is read again.
RETRY_PAUSE_S = 1.0


def input_group_id(settings: Settings) -> str:
    """The consumer group of the input topics (Faust's own group reads the internal ones).

    >>> from config.settings import Settings
    >>> input_group_id(Settings(namespace="demo"))
    'demo-crmstream-input'
    """
    return f"{settings.app_id}-input"


@dataclass(frozen=True)
class Input:
    """An input topic and what handles its batches.

    ``agent`` names the handler in the metrics; ``commits`` is False when the
    handler's transactions store the topic's offsets (exactly once).
    """

    topic: str
    agent: str
    handle: Handler
    commits: bool = True


def incoming(record: ConsumerRecord[bytes, bytes]) -> Incoming:
    """The pipeline's view of a Kafka record."""
    return Incoming(record.value, record.key, record.topic, record.partition, record.offset)


def next_offsets(batch: Batch) -> dict[TopicPartition, int]:
    """Each partition's next offset to read after ``batch`` (its last offset + 1)."""
    return {tp: records[-1].offset + 1 for tp, records in batch.items() if records}


async def take_within(
    consumer: AIOKafkaConsumer,
    max_events: int,
    due_at: float,
    within: float,
    clock: Callable[[], float] = time.monotonic,
) -> Batch:
    """Up to ``max_events`` records, returned when full or, once ``due_at`` has passed,
    as soon as at least one is there (waiting ``within`` at a time while none is).

    Each assigned partition gives at most its share of a batch at a time: aiokafka
    hands out its fetched records a partition after another, up to a megabyte of
    each, so a backlog would otherwise be drained one partition at a time, and the
    event time of the records a batch feeds to the alert windows would run hours
    ahead on one partition of a replay while another waits.
    """
    batch: Batch = {}
    count = 0
    while count < max_events:
        partitions = sorted(consumer.assignment())
        share = max(1, (max_events - count) // max(1, len(partitions)))
        for tp in partitions:  # what is fetched already, a share from each partition
            if count >= max_events:
                break
            got = await consumer.getmany(
                tp, timeout_ms=0, max_records=min(share, max_events - count)
            )
            count += _merge(batch, got)
        remaining = due_at - clock()
        if count >= max_events or (count and remaining <= 0):
            return batch
        wait = remaining if remaining > 0 else within
        got = await consumer.getmany(
            timeout_ms=int(wait * 1000), max_records=min(share, max_events - count)
        )
        count += _merge(batch, got)
    return batch


def _merge(batch: Batch, got: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> int:
    for tp, records in got.items():
        batch.setdefault(tp, []).extend(records)
    return sum(len(records) for records in got.values())


class InputReader(ConsumerRebalanceListener):  # type: ignore[misc]
    """Reads ``inputs`` in batches and hands each topic's part to its handler.

    The topics' handlers of one batch run concurrently; the batch is committed when
    all of them returned.
    """

    def __init__(
        self,
        settings: Settings,
        inputs: Sequence[Input],
        downstream: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """``downstream()``, when given, is awaited before each batch is taken: it returns
        once what the last batches fed downstream is far enough along
        (:meth:`streams.backlog.Backlog.wait_below`)."""
        self.settings = settings
        self.inputs = {i.topic: i for i in inputs}
        self.downstream = downstream
        self.consumer: AIOKafkaConsumer | None = None
        self.joined = False  # has been assigned partitions (possibly none) at least once
        self._committed: dict[TopicPartition, int] = {}
        self._handling = asyncio.Lock()  # held from a batch's handling to its commit

    async def run(self) -> None:
        """Read until cancelled."""
        settings = self.settings
        consumer = AIOKafkaConsumer(
            **client_options(settings),
            group_id=input_group_id(settings),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
            session_timeout_ms=int(settings.kafka_session_timeout_s * 1000),
            heartbeat_interval_ms=int(settings.kafka_session_timeout_s * 250),
        )
        consumer.subscribe(list(self.inputs), listener=self)
        self.consumer = consumer
        await consumer.start()
        try:
            taken_at = time.monotonic()
            within = settings.batch_max_wait_s
            while True:
                if self.downstream is not None:
                    await self.downstream()
                batch = await take_within(
                    consumer, settings.batch_max_events, taken_at + within, within
                )
                taken_at = time.monotonic()
                async with self._handling:
                    assigned = consumer.assignment()
                    batch = {tp: r for tp, r in batch.items() if tp in assigned}
                    if batch:
                        await self._handle(consumer, batch)
        finally:
            self.consumer = None
            await consumer.stop()

    async def _handle(self, consumer: AIOKafkaConsumer, batch: Batch) -> None:
        by_topic: dict[str, list[ConsumerRecord[bytes, bytes]]] = {}
        for tp, records in batch.items():
            by_topic.setdefault(tp.topic, []).extend(records)
        try:
            await asyncio.gather(
                *(self._handle_topic(self.inputs[t], records) for t, records in by_topic.items())
            )
        except Exception:
            # Not data (the handlers dead-letter bad events): a bug or an outage their
            # retries gave up on. Nothing is committed; the batch is read again.
            log.exception("a batch failed; reading it again in %.0f s", RETRY_PAUSE_S)
            for tp, records in batch.items():
                consumer.seek(tp, records[0].offset)
            await asyncio.sleep(RETRY_PAUSE_S)
            return
        await self._commit(consumer, batch)

    async def _handle_topic(
        self, source: Input, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        started = time.perf_counter()
        metrics.EVENTS_IN.labels(source.topic).inc(len(records))
        await source.handle([incoming(r) for r in records])
        done = time.time()
        histogram = metrics.END_TO_END_SECONDS.labels(source.topic)
        for record in records:  # from each record's produce time (milliseconds)
            histogram.observe(max(0.0, done - record.timestamp / 1000))
        metrics.PROCESSING_SECONDS.labels(source.agent).observe(time.perf_counter() - started)

    async def _commit(self, consumer: AIOKafkaConsumer, batch: Batch) -> None:
        offsets = next_offsets(batch)
        self._committed.update(offsets)
        ours = {tp: o for tp, o in offsets.items() if self.inputs[tp.topic].commits}
        if not ours:
            return
        try:
            await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in ours.items()})
        except CommitFailedError as error:
            # The group rebalanced meanwhile: the new owner reads these again (at least once).
            log.warning("offsets not committed, the group rebalanced: %s", error)
        except KafkaError as error:  # the broker is away: the next batch's commit covers these
            log.warning(
                "offsets not committed (%s: %s); retried with the next batch",
                type(error).__name__,
                error,
            )

    def lag(self) -> dict[TopicPartition, int]:
        """Messages not yet committed on this worker's input partitions (where known)."""
        consumer = self.consumer
        if consumer is None:
            return {}
        lags = {}
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                lags[tp] = max(0, highwater - self._committed.get(tp, 0))
        return lags

    # ConsumerRebalanceListener

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        async with self._handling:  # the batch in hand is delivered and committed first
            for tp in revoked:
                self._committed.pop(tp, None)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        consumer = self.consumer
        partitions = list(assigned)
        if consumer is not None and partitions:
            # Nothing is read from them until their start is settled: the reader's
            # getmany runs while this awaits the broker.
            consumer.pause(*partitions)
            try:
                never: list[TopicPartition] = []
                for tp in partitions:
                    committed = await consumer.committed(tp)
                    if committed is None:
                        never.append(tp)
                    else:
                        self._committed[tp] = committed
                if never:
                    await self._start_where_faust_stopped(consumer, never)
            finally:
                consumer.resume(*partitions)
        self.joined = True

    async def _start_where_faust_stopped(
        self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
    ) -> None:
        """Partitions this group never committed start at the offsets the worker's Faust
        group committed for them, if any: before the input reader, Faust's agents read
        the inputs in that group, and a worker upgraded from then would otherwise read
        the inputs' whole retention again (and publish it on the scored topic again)."""
        admin = AIOKafkaAdminClient(**client_options(self.settings))
        try:
            await admin.start()
            offsets = await admin.list_consumer_group_offsets(
                self.settings.app_id, partitions=partitions
            )
        except KafkaError as error:  # then from the earliest offset, as a new group does
            log.warning("could not read the Faust group's offsets: %s: %s",
                        type(error).__name__, error)  # fmt: skip
            return
        finally:
            await admin.close()
        for tp, offset in offsets.items():
            if offset.offset >= 0:
                log.info("%s[%d]: starting at %d, where the Faust group stopped",
                         tp.topic, tp.partition, offset.offset)  # fmt: skip
                consumer.seek(tp, offset.offset)
                self._committed[tp] = offset.offset
