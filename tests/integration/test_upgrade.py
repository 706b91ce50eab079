"""A worker from before the input reader (Faust read the inputs in the app's group)
upgraded in place: the input group starts where the Faust group stopped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from config.settings import Settings
from crmstream.generator import EventGenerator
from streams.kafka import client_options
from streams.topics import COMMUNICATIONS
from tests.conftest import start_scoped_worker
from tests.integration.support import (
    consumer_lag,
    indexed,
    send_events,
    topic_partitions,
    wait_until,
)

pytestmark = pytest.mark.integration


async def _positions(settings: Settings) -> dict[TopicPartition, list[str]]:
    """The event ids on each partition of the communications topic, in offset order."""
    topic = settings.topic_name(COMMUNICATIONS)
    partitions = await topic_partitions(settings, topic)
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        ids: dict[TopicPartition, list[str]] = {tp: [] for tp in partitions}
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                ids[tp] += [orjson.loads(r.value)["event_id"] for r in records]
        return ids
    finally:
        await consumer.stop()


async def _commit_as_faust(settings: Settings, offsets: dict[TopicPartition, int]) -> None:
    """What a worker of before left: the app group's committed input offsets."""
    consumer = AIOKafkaConsumer(
        **client_options(settings), group_id=settings.app_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
    finally:
        await consumer.stop()


def test_an_upgraded_worker_starts_where_the_faust_group_stopped(
    scoped: Settings, tmp_path: Path
) -> None:
    events = [e for e in EventGenerator(seed=515).events(600) if e.kind == "communication"]
    send_events(scoped, events)
    ids = asyncio.run(_positions(scoped))
    halfway = {tp: len(on_partition) // 2 for tp, on_partition in ids.items()}
    asyncio.run(_commit_as_faust(scoped, halfway))
    done = [i for tp, on in ids.items() for i in on[: halfway[tp]]]
    new = [i for tp, on in ids.items() for i in on[halfway[tp] :]]
    assert done and new

    worker = start_scoped_worker(scoped, tmp_path / "worker.log")
    try:
        wait_until(lambda: consumer_lag(scoped, COMMUNICATIONS) == 0, what="the new events read")
        found = indexed(scoped, done + new)
    finally:
        assert worker.stop() == 0
    assert set(found) == set(new)  # the ones the Faust group had done are not read again
