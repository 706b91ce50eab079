"""Exactly-once output: a batch's records and its input offsets in one Kafka transaction.

With ``CRMSTREAM_EXACTLY_ONCE=true`` the scoring agent publishes the scored records
and the dead letters of each input partition through a transactional producer of that
partition, in one transaction with the partition's next input offset
(``send_offsets_to_transaction``). Either both land or neither does: a consumer that
reads committed data (``isolation.level=read_committed``) sees each input event's
output exactly once, whatever crashed. A worker killed mid-transaction leaves it open;
the next owner of the partition starts the producer of the same transactional id,
which aborts it (fences the old one), and reads the partition from the offset the last
committed transaction stored.

One producer per input partition (classic Kafka exactly-once, before KIP-447): aiokafka
commits transactional offsets by group id only, without the group generation that
would fence a former owner of a partition; a transactional id per partition does.

What stays at least once, and why:

- Elasticsearch is indexed before the transaction: its documents are keyed by
  ``event_id``, so a batch read again overwrites them.
- The learner's training messages, the alert aggregates, conversation turns and
  customer contacts go through the worker's ordinary producer: the tables fed by them
  are not transactional either (their changelogs are written by Faust), so a batch read
  again after a crash can count twice in an alert window.

The consumer (:class:`streams.offsets.DeliveredOffsetsConsumer`) does not commit these
partitions itself: its own commit could reach the coordinator after a later
transaction's and move the offset back; it learns each transaction's offset instead
(:meth:`DeliveredOffsetsConsumer.note_committed`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, ProducerFenced
from faust.types import TP

from config.settings import Settings
from streams.kafka import client_options, until_sent
from streams.offsets import DeliveredOffsetsConsumer

__all__ = [
    "ExactlyOnce",
    "InOrder",
    "PartitionOutput",
    "TransactionalOutput",
    "in_order",
    "transactional_id",
]

log = logging.getLogger(__name__)


def transactional_id(settings: Settings, topic: str, partition: int) -> str:
    """The transactional id of an input partition's producer: the same on every worker,
    so that the partition's next owner fences the last one.

    >>> from config.settings import Settings
    >>> transactional_id(Settings(namespace="demo"), "demo.crm.communications", 3)
    'demo-crmstream.score.demo.crm.communications.3'
    """
    return f"{settings.app_id}.score.{topic}.{partition}"


@dataclass
class PartitionOutput:
    """What a batch writes for one input partition: ``(topic, key, value)`` records, and
    the partition's next offset to read (its last offset in the batch plus one)."""

    next_offset: int
    records: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)


@dataclass
class InOrder:
    """Which messages of a batch a transaction may take (:func:`in_order`)."""

    fresh: list[int]  # positions in the batch, in batch order
    next_offsets: dict[int, int]  # partition → next offset to read, where it advanced
    stale: int  # copies of messages already committed (or twice in the batch)
    gaps: dict[int, tuple[int, int]]  # partition → (first missing offset, first held back)


def in_order(positions: Sequence[tuple[int, int]], committed: Mapping[int, int | None]) -> InOrder:
    """The messages at ``positions`` (``(partition, offset)`` in batch order) that continue
    each partition's committed offset without a gap, and where each partition then stands.

    A transaction stores the partition's next offset with the batch's output, so it must
    hold every message up to that offset once: a copy of a message at or past the
    committed offset already (Faust reads a partition again from its committed offset
    whenever it asks for records while the flow is suspended) would be published twice,
    and a message missing in the middle (Faust's fetcher loses one now and then at a
    rebalance) would be stepped over. Copies are dropped; what follows a gap is held
    back, to be read again from the gap.

    >>> r = in_order([(0, 10), (0, 11), (1, 5), (0, 9), (0, 13), (1, 6)], {0: 10, 1: None})
    >>> r.fresh, r.next_offsets, r.stale, r.gaps
    ([0, 1, 2, 5], {0: 12, 1: 7}, 1, {0: (12, 13)})
    """
    by_partition: dict[int, list[tuple[int, int]]] = {}
    for position, (partition, offset) in enumerate(positions):
        by_partition.setdefault(partition, []).append((offset, position))
    fresh: list[int] = []
    next_offsets: dict[int, int] = {}
    gaps: dict[int, tuple[int, int]] = {}
    stale = 0
    for partition, offsets in by_partition.items():
        offsets.sort()
        start = committed.get(partition)
        expected = offsets[0][0] if start is None else start
        for offset, position in offsets:
            if offset < expected:
                stale += 1
            elif offset == expected:
                fresh.append(position)
                expected += 1
            else:
                gaps[partition] = (expected, offset)
                break
        if start is None or expected > start:
            next_offsets[partition] = expected
    fresh.sort()
    return InOrder(fresh, next_offsets, stale, gaps)


class TransactionalOutput:
    """A transactional producer per input partition of ``input_topic``, made on first use.

    ``on_committed(partition, next_offset)`` is called after each committed transaction.
    """

    def __init__(
        self,
        settings: Settings,
        input_topic: str,
        group_id: str,
        on_committed: Callable[[int, int], None],
    ) -> None:
        self.settings = settings
        self.input_topic = input_topic
        self.group_id = group_id
        self.on_committed = on_committed
        self._producers: dict[int, AIOKafkaProducer] = {}
        self._starting: dict[int, asyncio.Lock] = {}

    async def commit(self, outputs: Mapping[int, PartitionOutput]) -> None:
        """One transaction per partition (concurrently): its records and its next offset."""
        await asyncio.gather(*(self._commit(p, output) for p, output in outputs.items()))

    async def close(self) -> None:
        producers, self._producers = list(self._producers.values()), {}
        await asyncio.gather(*(p.stop() for p in producers), return_exceptions=True)

    async def _commit(self, partition: int, output: PartitionOutput) -> None:
        async for attempt in until_sent(log):
            with attempt:
                producer = await self._producer(partition)
                try:
                    await self._transaction(producer, partition, output)
                except ProducerFenced:
                    # Another producer of this id started since (this worker had lost the
                    # partition and got it back): a new one, which fences that one in turn.
                    await self._discard(partition, producer)
                    raise
                except KafkaError:
                    await self._abort_or_discard(partition, producer)
                    raise
        self.on_committed(partition, output.next_offset)

    async def _transaction(
        self, producer: AIOKafkaProducer, partition: int, output: PartitionOutput
    ) -> None:
        await producer.begin_transaction()
        futures: Sequence[asyncio.Future[object]] = [
            await producer.send(topic, value, key=key) for topic, key, value in output.records
        ]
        await asyncio.gather(*futures)
        await producer.send_offsets_to_transaction(
            {TopicPartition(self.input_topic, partition): output.next_offset}, self.group_id
        )
        await producer.commit_transaction()

    async def _producer(self, partition: int) -> AIOKafkaProducer:
        lock = self._starting.setdefault(partition, asyncio.Lock())
        async with lock:
            producer = self._producers.get(partition)
            if producer is None:
                producer = AIOKafkaProducer(
                    **client_options(self.settings),
                    transactional_id=transactional_id(self.settings, self.input_topic, partition),
                    enable_idempotence=True,
                    acks="all",
                    linger_ms=5,
                    max_request_size=1_048_576,
                )
                await producer.start()  # fences the partition's last producer
                self._producers[partition] = producer
            return producer

    async def _abort_or_discard(self, partition: int, producer: AIOKafkaProducer) -> None:
        try:
            await producer.abort_transaction()
        except Exception:  # its state is unknown: a fresh producer aborts what is left
            await self._discard(partition, producer)

    async def _discard(self, partition: int, producer: AIOKafkaProducer) -> None:
        if self._producers.get(partition) is producer:
            del self._producers[partition]
        try:
            await producer.stop()
        except Exception as error:  # already broken; nothing more to do with it
            log.debug("stopping a discarded transactional producer: %r", error)


class Positioned(Protocol):
    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...


M = TypeVar("M", bound=Positioned)


class ExactlyOnce:
    """The scoring agent's exactly-once output for its input ``topic``: the transactions,
    and which messages of a batch they may take (:func:`in_order`).

    The consumer leaves the topic's offsets to the transactions from now on.
    """

    def __init__(self, settings: Settings, consumer: Any, topic: str) -> None:
        if not isinstance(consumer, DeliveredOffsetsConsumer):
            raise TypeError(f"exactly-once needs the worker's own consumer, not {consumer!r}")
        consumer.transactional_topics.add(topic)
        self.consumer = consumer
        self.topic = topic
        self.output = TransactionalOutput(
            settings,
            topic,
            settings.app_id,
            lambda partition, offset: consumer.note_committed(TP(topic, partition), offset),
        )

    def take(self, messages: Sequence[M]) -> tuple[list[M], dict[int, int]]:
        """The messages the batch's transactions may take, and each partition's next
        offset to store with them; a partition with a gap is read again from it."""
        committed = {
            m.partition: self.consumer.committed_offset(TP(self.topic, m.partition))
            for m in messages
        }
        order = in_order([(m.partition, m.offset) for m in messages], committed)
        if order.stale:
            log.info("dropped %d copies of messages already committed", order.stale)
        for partition, (start, end) in order.gaps.items():
            self.consumer.read_again(TP(self.topic, partition), start, end)
        return [messages[i] for i in order.fresh], order.next_offsets

    async def close(self) -> None:
        await self.output.close()
