"""Generated events through real Kafka and the real worker into real Elasticsearch."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Any

from config.settings import Settings
from crmstream.generator import EventGenerator
from crmstream.infra import WorkerProcess
from crmstream.search import SearchFilters, search
from streams.pipeline import Edge, EdgeConfig
from streams.search_index import COMMUNICATIONS_ALIAS, create_client
from streams.topics import COMMUNICATIONS, DEADLETTER, SCORED
from tests.integration.support import (
    assert_matches_contract,
    consumer_lag,
    indexed,
    read_topic,
    send_events,
    send_raw,
    wait_until,
)

EDGE = Edge(EdgeConfig())


def searchable(doc: dict[str, Any]) -> str:
    return f"{doc['text']} {doc.get('subject', '')}".lower()


def test_generated_events_are_indexed_and_published_scored(
    settings: Settings, worker: WorkerProcess
) -> None:
    events = list(EventGenerator(seed=101).events(600))
    communications = {e.value["event_id"]: e.value for e in events if e.kind == "communication"}
    assert len(communications) > 300

    send_events(settings, events)

    wait_until(
        lambda: len(indexed(settings, list(communications))) == len(communications),
        what=f"{len(communications)} documents in Elasticsearch",
    )
    found = indexed(settings, list(communications))
    for event_id, docs in found.items():
        source, doc = communications[event_id], docs[0]
        assert len(docs) == 1
        for field in ("customer_id", "channel", "direction", "conversation_id"):
            assert doc.get(field) == source.get(field), field
        assert doc["text"] == EDGE.clean_text(source["text"], source["channel"])[0]
        assert doc["language"] == source["language"]  # the generator knows what it wrote
        assert datetime.fromisoformat(doc["occurred_at"]) == datetime.fromisoformat(
            source["occurred_at"]
        )
        assert doc["schema_version"]
        assert doc["source"]["topic"] == settings.topic_name(COMMUNICATIONS)

    wait_until(
        lambda: set(communications) <= {r["event_id"] for r in read_topic(settings, SCORED)},
        what="every communication on the scored topic",
    )
    scored = read_topic(settings, SCORED)
    assert_matches_contract(scored, "scored-communication")

    # Search through what the worker indexed: Chinese and English words, right documents only.
    client = create_client(settings)
    alias = settings.index_name(COMMUNICATIONS_ALIAS)
    try:
        for word in ("快递", "退款", "refund"):
            expected = {
                i
                for i, docs in found.items()
                # Whole words for English (no stemming here); characters side by side for Chinese.
                if re.search(rf"\b{word}\b" if word.isascii() else word, searchable(docs[0]))
            }
            result = search(client, alias, word, SearchFilters(), size=5000)
            hits = {h.id for h in result.hits} & set(communications)
            assert expected and hits == expected, word
    finally:
        client.close()
    by_id = {r["event_id"]: r for r in scored}
    assert all(by_id[i]["text"] == found[i][0]["text"] for i in communications)
    assert worker.alive


def test_sending_the_same_events_twice_creates_no_duplicates(
    settings: Settings, worker: WorkerProcess
) -> None:
    events = list(EventGenerator(seed=202).events(300))
    ids = [e.value["event_id"] for e in events if e.kind == "communication"]

    send_events(settings, events)
    send_events(settings, events)  # a replay: same ids, same content

    wait_until(
        lambda: consumer_lag(settings, COMMUNICATIONS) == 0, what="the worker to commit everything"
    )
    found = indexed(settings, ids)
    assert set(found) == set(ids)
    copies = Counter(len(docs) for docs in found.values())
    assert copies == Counter({1: len(ids)}), f"documents per event: {copies}"


def test_malformed_messages_go_to_the_dead_letter_topic_with_their_bytes(
    settings: Settings, worker: WorkerProcess
) -> None:
    bad = [b"not json at all", b'{"event_id": "x", "channel": "fax"}', b"\xff\xfe\x00"]
    good = list(EventGenerator(seed=303).events(20))
    send_raw(settings, COMMUNICATIONS, bad[:2])
    send_events(settings, good)
    send_raw(settings, COMMUNICATIONS, bad[2:])

    originals = {"not json at all", '{"event_id": "x", "channel": "fax"}', "//4A"}  # b64 of bad[2]
    wait_until(
        lambda: originals <= {r["original"] for r in read_topic(settings, DEADLETTER)},
        what="three dead letters",
    )
    letters = [r for r in read_topic(settings, DEADLETTER) if r["original"] in originals]
    assert len(letters) == 3
    assert_matches_contract(letters, "dead-letter")
    reasons = {r["original"]: r["reason"] for r in letters}
    assert reasons["not json at all"] == "not_json"
    assert reasons['{"event_id": "x", "channel": "fax"}'] == "schema"
    assert reasons["//4A"] == "not_utf8"
    assert all(r["source"]["topic"] == settings.topic_name(COMMUNICATIONS) for r in letters)
    good_ids = [e.value["event_id"] for e in good if e.kind == "communication"]
    wait_until(
        lambda: len(indexed(settings, good_ids)) == len(good_ids),
        what="the valid events around the bad ones",
    )
    assert worker.alive
