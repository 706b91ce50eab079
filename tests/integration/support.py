"""What integration tests need to look at real servers: wait, read topics, query the index."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError
from elasticsearch import Elasticsearch
from jsonschema import Draft202012Validator
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from config.settings import Settings
from crmstream.generator import GeneratedEvent
from crmstream.infra.servers import ElasticsearchServer
from crmstream.produce import encode_events, produce
from schemas.export import JSON_DIR
from streams.inputs import input_group_id
from streams.kafka import client_options
from streams.search_index import COMMUNICATIONS_ALIAS, create_client
from streams.topics import INPUTS

T = TypeVar("T")


@contextmanager
def index_holding(
    prefix: str,
    make_index: Callable[[Elasticsearch, Settings], str],
    documents: Mapping[str, dict[str, Any]],
) -> Iterator[tuple[Elasticsearch, Settings]]:
    """A client in a namespace of its own (``prefix`` + a random part), on the local
    Elasticsearch (started if need be), with ``documents`` (by id) in the index
    ``make_index`` creates and names, refreshed; the index is deleted afterwards."""
    settings = Settings(namespace=f"{prefix}{uuid.uuid4().hex[:10]}")
    server = ElasticsearchServer(settings)
    started = server.start()
    client = create_client(settings)
    index = None
    try:
        index = make_index(client, settings)
        for document_id, document in documents.items():
            client.index(index=index, id=document_id, document=document)
        client.indices.refresh(index=index)
        yield client, settings
    finally:
        try:
            if index is not None:  # named explicitly: the cluster refuses wildcard deletes
                client.indices.delete(index=index, ignore_unavailable=True)
        finally:
            client.close()
            if started:  # stopped again only when this test started it
                server.stop()


def assert_matches_contract(records: Iterable[dict[str, Any]], contract: str) -> None:
    """Every record validates against the exported JSON Schema of ``contract``."""
    validator = Draft202012Validator(json.loads((JSON_DIR / f"{contract}.json").read_text()))
    for record in records:
        errors = sorted(validator.iter_errors(record), key=str)
        assert not errors, f"{contract} record breaks its schema: {errors[0].message}"


def wait_until(
    check: Callable[[], T],
    *,
    timeout_s: float = 180.0,
    what: str = "condition",
    explain: Callable[[], str] | None = None,
) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after the timeout
    (and with what ``explain`` gives then, e.g. :meth:`crmstream.infra.WorkerProcess.log_tail`)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            message = f"timed out waiting for {what} (last: {result!r})"
            if explain is not None:
                message += f"\n{explain()}"
            raise AssertionError(message)
        time.sleep(0.5)


def send_events(settings: Settings, events: Iterable[GeneratedEvent]) -> int:
    return asyncio.run(produce(settings, encode_events(settings, events)))


def send_raw(settings: Settings, topic: str, values: Sequence[bytes | None]) -> int:
    return asyncio.run(produce(settings, [(settings.topic_name(topic), None, v) for v in values]))


async def topic_partitions(settings: Settings, name: str) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        (description,) = await admin.describe_topics([name])
        return [TopicPartition(name, p["partition"]) for p in description["partitions"]]
    finally:
        await admin.close()


def read_topic(
    settings: Settings,
    topic: str,
    *,
    idle_s: float = 2.0,
    isolation_level: Literal["read_uncommitted", "read_committed"] = "read_uncommitted",
) -> list[dict[str, Any]]:
    """Every record on a topic, from the beginning, decoded from JSON (no consumer group);
    ``read_committed``: only those of committed transactions (and those outside any)."""

    async def read() -> list[dict[str, Any]]:
        name = settings.topic_name(topic)
        consumer = AIOKafkaConsumer(
            **client_options(settings),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level=isolation_level,
        )
        await consumer.start()
        try:
            partitions = await topic_partitions(settings, name)
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            end = await consumer.end_offsets(partitions)
            records: list[dict[str, Any]] = []
            while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
                batch = await consumer.getmany(timeout_ms=int(idle_s * 1000))
                for messages in batch.values():
                    records.extend(orjson.loads(m.value) for m in messages if m.value is not None)
            return records
        finally:
            await consumer.stop()

    return asyncio.run(read())


@retry(
    # A broker that has just started may not coordinate groups yet: wait, boundedly.
    retry=retry_if_exception_type(GroupCoordinatorNotAvailableError),
    wait=wait_fixed(1),
    stop=stop_after_delay(60),
    reraise=True,
)
def consumer_lag(settings: Settings, *topics: str) -> int:
    """Messages on these topics the workers have not committed yet (the input topics'
    group or Faust's, whichever reads the topic)."""

    async def lag() -> int:
        admin = AIOKafkaAdminClient(**client_options(settings))
        consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
        await admin.start()
        await consumer.start()
        try:
            partitions = [
                tp
                for topic in topics
                for tp in await topic_partitions(settings, settings.topic_name(topic))
            ]
            end = await consumer.end_offsets(partitions)
            inputs = {settings.topic_name(t) for t in INPUTS}
            committed = {}
            for group, tps in (
                (input_group_id(settings), [tp for tp in partitions if tp.topic in inputs]),
                (settings.app_id, [tp for tp in partitions if tp.topic not in inputs]),
            ):
                if tps:
                    committed.update(await admin.list_consumer_group_offsets(group, partitions=tps))
            return sum(
                end[tp]
                - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0)
                for tp in partitions
            )
        finally:
            await consumer.stop()
            await admin.close()

    return asyncio.run(lag())


def indexed(
    settings: Settings, event_ids: Sequence[str], base: str = COMMUNICATIONS_ALIAS
) -> dict[str, list[dict[str, Any]]]:
    """The documents for these event ids: ``{event_id: [source, ...]}``, so duplicates show
    (in the communications, or in another alias with an ``event_id`` field: ``base``)."""
    client = create_client(settings)
    alias = settings.index_name(base)
    try:
        if not client.indices.exists_alias(name=alias):
            return {}
        client.indices.refresh(index=alias)
        found: dict[str, list[dict[str, Any]]] = {}
        for start in range(0, len(event_ids), 4000):
            chunk = list(event_ids[start : start + 4000])
            response = client.search(
                index=alias, query={"terms": {"event_id": chunk}}, size=len(chunk) * 2 + 10
            )
            for hit in response["hits"]["hits"]:
                found.setdefault(hit["_source"]["event_id"], []).append(hit["_source"])
        return found
    finally:
        client.close()
