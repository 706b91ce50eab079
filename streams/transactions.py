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

The input consumer (:mod:`streams.inputs`) does not commit these partitions itself:
its own commit could reach the coordinator after a later transaction's and move the
offset back. The transactions store the offsets for its consumer group.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, ProducerFenced

from config.settings import Settings
from streams.kafka import client_options, until_sent

__all__ = [
    "ExactlyOnce",
    "Fresh",
    "PartitionOutput",
    "TransactionalOutput",
    "fresh_messages",
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
class Fresh:
    """Which messages of a batch a transaction may take (:func:`fresh_messages`)."""

    positions: list[int]  # positions in the batch, in batch order
    next_offsets: dict[int, int]  # partition → next offset to read, where it advanced
    stale: int  # copies of messages already committed (or twice in the batch)


def fresh_messages(positions: Sequence[tuple[int, int]], committed: Mapping[int, int]) -> Fresh:
    """The messages at ``positions`` (``(partition, offset)`` in batch order) that no
    transaction has committed yet, and where each partition then stands.

    A transaction stores the partition's next offset with the batch's output, so a
    copy of a message below the offset a transaction already stored must not be
    published again: a batch whose handler failed after some partitions' transactions
    committed is read again whole (:mod:`streams.inputs`). Offsets may skip numbers (a
    transactional producer's markers, compaction): aiokafka delivers a partition in
    order and without loss, so a gap is no missing message.

    >>> r = fresh_messages([(0, 10), (0, 11), (1, 5), (0, 9), (0, 14), (1, 6)], {0: 10})
    >>> r.positions, r.next_offsets, r.stale
    ([0, 1, 2, 4, 5], {0: 15, 1: 7}, 1)
    """
    fresh: list[int] = []
    next_offsets: dict[int, int] = {}
    stale = 0
    for position, (partition, offset) in enumerate(positions):
        expected = next_offsets.get(partition, committed.get(partition, offset))
        if offset < expected:
            stale += 1
        else:
            fresh.append(position)
            next_offsets[partition] = offset + 1
    return Fresh(fresh, next_offsets, stale)


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
    """The scoring agent's exactly-once output for its input ``topic``: the transactions
    (storing offsets for the consumer group ``group_id``), and which messages of a batch
    they may take (:func:`fresh_messages`).

    The input consumer must leave the topic's offsets to the transactions
    (:class:`streams.inputs.Input` with ``commits=False``).
    """

    def __init__(self, settings: Settings, topic: str, group_id: str) -> None:
        self.topic = topic
        # The next offset to read as this worker's last transaction of each partition stored.
        self.committed: dict[int, int] = {}
        self.output = TransactionalOutput(settings, topic, group_id, self._note_committed)

    def _note_committed(self, partition: int, offset: int) -> None:
        self.committed[partition] = max(offset, self.committed.get(partition, offset))

    def take(self, messages: Sequence[M]) -> tuple[list[M], dict[int, int]]:
        """The messages the batch's transactions may take, and each partition's next
        offset to store with them."""
        fresh = fresh_messages([(m.partition, m.offset) for m in messages], self.committed)
        if fresh.stale:
            log.info("dropped %d copies of messages already committed", fresh.stale)
        return [messages[i] for i in fresh.positions], fresh.next_offsets

    async def close(self) -> None:
        await self.output.close()
