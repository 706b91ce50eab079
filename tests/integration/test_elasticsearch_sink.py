"""The Elasticsearch sink on the real server: a rejected document, and the server going away."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import orjson

from config.settings import Settings
from crmstream.generator import EventGenerator
from crmstream.infra import LocalServer, WorkerProcess
from crmstream.infra.servers import ElasticsearchServer
from crmstream.produce import encode_events, produce
from streams.search_index import create_client
from streams.topics import COMMUNICATIONS, DEADLETTER
from tests.integration.support import consumer_lag, indexed, read_topic, send_raw, wait_until
from tests.integration.test_worker_endpoints import get


def test_a_document_that_violates_the_mapping_is_dead_lettered_and_the_rest_kept(
    settings: Settings, worker: WorkerProcess
) -> None:
    # An index whose mapping disagrees with one document: customer_id must be a number there.
    index = f"{settings.index_name('crm-communications')}-2024.03"
    client = create_client(settings)
    try:
        client.indices.create(
            index=index, mappings={"properties": {"customer_id": {"type": "long"}}}
        )
    finally:
        client.close()
    events = [
        {
            "event_id": str(uuid.uuid4()),
            "occurred_at": f"2024-03-0{day}T10:00:00Z",
            "customer_id": customer,
            "channel": "chat",
            "direction": "inbound",
            "text": f"Where is my parcel number {day}?",
        }
        for day, customer in enumerate(["1001", "1002", "not-a-number", "1004", "1005"], 1)
    ]
    send_raw(settings, COMMUNICATIONS, [orjson.dumps(e) for e in events])
    good = [e["event_id"] for e in events if e["customer_id"] != "not-a-number"]
    bad = next(e for e in events if e["customer_id"] == "not-a-number")

    def letter() -> dict[str, object] | None:
        for record in read_topic(settings, DEADLETTER):
            if record["original"] and bad["event_id"] in str(record["original"]):
                return record
        return None

    found = wait_until(letter, what="the rejected document's dead letter")
    assert found is not None
    assert found["reason"] == "elasticsearch_rejected"
    assert "customer_id" in str(found["message"]) and "400" in str(found["message"])
    assert orjson.loads(str(found["original"])) == bad  # the original bytes, untouched
    wait_until(lambda: len(indexed(settings, good)) == len(good), what="the rest of the batch")
    assert bad["event_id"] not in indexed(settings, [bad["event_id"]])


def test_elasticsearch_down_for_30_seconds_loses_and_doubles_nothing(
    settings: Settings, worker: WorkerProcess, local_servers: list[LocalServer]
) -> None:
    elasticsearch = next(s for s in local_servers if isinstance(s, ElasticsearchServer))
    events = list(EventGenerator(seed=404).events(3000))
    ids = [e.value["event_id"] for e in events if e.kind == "communication"]
    letters_before = len(read_topic(settings, DEADLETTER))

    async def stream_while_elasticsearch_is_away() -> None:
        # ~100 events/s for 30 s; Elasticsearch goes away after 5 s and comes back 30 s later.
        sending = asyncio.create_task(produce(settings, encode_events(settings, events), rate=100))
        await asyncio.sleep(5)
        await asyncio.to_thread(elasticsearch.stop)
        stopped = time.monotonic()
        assert not elasticsearch.healthy()
        # The worker says it is not ready (its check runs every 10 s), and why.
        answer = await asyncio.to_thread(
            wait_until, lambda: not_ready(settings), timeout_s=25, what="/readyz 503"
        )
        assert answer is not None
        status, body = answer
        assert status == 503 and any("Elasticsearch" in p for p in body["problems"])
        await asyncio.sleep(max(0.0, 30 - (time.monotonic() - stopped)))
        await asyncio.to_thread(elasticsearch.start)
        await sending

    asyncio.run(stream_while_elasticsearch_is_away())
    wait_until(lambda: consumer_lag(settings, COMMUNICATIONS) == 0, timeout_s=600, what="catch-up")
    found = indexed(settings, ids)
    assert set(found) == set(ids)
    assert all(len(docs) == 1 for docs in found.values())  # exactly once
    assert len(read_topic(settings, DEADLETTER)) == letters_before  # nothing valid dead-lettered
    assert worker.alive  # no restart needed
    wait_until(lambda: get(settings, "/readyz")[0] == 200, timeout_s=30, what="ready again")


def not_ready(settings: Settings) -> tuple[int, Any] | None:
    status, body = get(settings, "/readyz")
    return (status, body) if status == 503 else None
