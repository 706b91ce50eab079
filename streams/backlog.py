"""How far Faust's agents are behind on the internal topics the input reader feeds.

The input reader (:mod:`streams.inputs`) turns each batch into packed messages on
``crm.alert-aggregates``, ``crm.conversation-turns`` and ``crm.customer-contacts``,
which Faust's agents fold into their tables. Reading the inputs is cheaper than
folding (a soak of 100,000 new customers drained its input in 100 s and its internal
topics two minutes later), so without a bound the alert windows, conversations and
profiles fall behind by minutes, and Faust's buffers of what is waiting grow the
worker's memory. The reader therefore takes no new batch while the backlog, the
messages of these topics that the workers' Faust group has not committed yet,
exceeds a limit (``CRMSTREAM_INTERNAL_BACKLOG_MAX``).

Committed, not read, offsets: they are the same for the whole fleet (every worker's
reader sees the backlog of every worker's agents) and need no Faust internals. Faust
commits every few seconds, so the limit must leave room for a few seconds' messages.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from config.settings import Settings
from streams.kafka import client_options

__all__ = ["Backlog", "uncommitted"]

log = logging.getLogger(__name__)


def uncommitted(
    start: Mapping[TopicPartition, int],
    end: Mapping[TopicPartition, int],
    committed: Mapping[TopicPartition, int],
) -> int:
    """Messages between each partition's committed offset (or its log start, when never
    committed or committed below it) and its end.

    >>> a, b = TopicPartition("t", 0), TopicPartition("t", 1)
    >>> uncommitted({a: 0, b: 2}, {a: 120, b: 7}, {a: 100})
    25
    >>> uncommitted({a: 0}, {a: 120}, {a: 130})  # committed past a stale end
    0
    """
    return sum(
        max(0, offset - max(committed.get(tp, 0), start.get(tp, 0))) for tp, offset in end.items()
    )


class Backlog:
    """The uncommitted messages of ``topics`` for the consumer group ``group_id``,
    measured every ``interval_s`` while :meth:`run` runs; :meth:`wait_below` waits
    until they are at most a limit."""

    def __init__(
        self, settings: Settings, group_id: str, topics: Iterable[str], interval_s: float = 0.5
    ) -> None:
        self.settings = settings
        self.group_id = group_id
        self.topics = list(topics)
        self.interval_s = interval_s
        self.messages: int | None = None  # None until measured
        self._measured = asyncio.Event()

    async def run(self) -> None:
        """Measure until cancelled. Whatever fails, the figure is dropped (the reader
        goes on unthrottled) and the clients are made again after a pause."""
        while True:
            try:
                await self._run()
            except (KafkaError, OSError) as error:
                log.warning("backlog not measured: %s: %s", type(error).__name__, error)
            self.messages = None
            self._measured.set()
            await asyncio.sleep(5 * self.interval_s)

    async def _run(self) -> None:
        admin = AIOKafkaAdminClient(**client_options(self.settings))
        consumer = AIOKafkaConsumer(**client_options(self.settings), group_id=None)
        try:
            await admin.start()
            await consumer.start()
            partitions: list[TopicPartition] = []
            while True:
                if not partitions:
                    partitions = [
                        TopicPartition(described["topic"], p["partition"])
                        for described in await admin.describe_topics(self.topics)
                        if described["error_code"] == 0
                        for p in described["partitions"]
                    ]
                if partitions:
                    await self._measure(admin, consumer, partitions)
                await asyncio.sleep(self.interval_s)
        finally:
            await consumer.stop()
            await admin.close()

    async def _measure(
        self,
        admin: AIOKafkaAdminClient,
        consumer: AIOKafkaConsumer,
        partitions: list[TopicPartition],
    ) -> None:
        start = await consumer.beginning_offsets(partitions)
        end = await consumer.end_offsets(partitions)
        offsets = await admin.list_consumer_group_offsets(self.group_id, partitions=partitions)
        committed = {tp: o.offset for tp, o in offsets.items() if o.offset >= 0}
        self.messages = uncommitted(start, end, committed)
        self._measured.set()

    async def wait_below(self, limit: int) -> float:
        """Wait until the last measure is at most ``limit`` (not while there is none: the
        backlog bounds delay and memory, it guards no data); the seconds waited."""
        started = time.monotonic()
        while self.messages is not None and self.messages > limit:
            self._measured.clear()
            await self._measured.wait()
        return time.monotonic() - started
