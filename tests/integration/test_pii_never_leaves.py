"""No raw PII value from the hand-checked corpus reaches Elasticsearch or the scored topic:
not in communications, not in feedback comments (``crm-feedback``)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson

from config.settings import Settings
from crmstream.infra import WorkerProcess
from streams.search_index import FEEDBACK_ALIAS
from streams.topics import COMMUNICATIONS, FEEDBACK, SCORED
from tests.integration.support import indexed, read_topic, send_raw, wait_until

CORPUS = Path(__file__).resolve().parents[1] / "unit" / "data" / "pii_corpus.jsonl"
CHANNELS = ["email", "chat", "phone", "social", "sms"]


def test_raw_pii_is_found_nowhere_downstream(settings: Settings, worker: WorkerProcess) -> None:
    entries = [orjson.loads(line) for line in CORPUS.read_bytes().splitlines() if line.strip()]
    values = {p["value"] for entry in entries for p in entry["pii"]}
    assert len(entries) >= 200 and len(values) >= 100
    events: list[dict[str, Any]] = []
    for number, entry in enumerate(entries):
        event = {
            "event_id": str(uuid.uuid4()),
            "occurred_at": "2026-02-01T10:00:00Z",
            "customer_id": f"pii-{number}",
            "channel": CHANNELS[number % len(CHANNELS)],
            "direction": "inbound",
            "text": entry["text"],
        }
        if event["channel"] == "email":
            event["subject"] = entry["text"]  # subjects are redacted too
        events.append(event)
    ratings = [
        {
            "event_id": str(uuid.uuid4()),
            "occurred_at": "2026-02-01T10:05:00Z",
            "customer_id": f"pii-{number}",
            "kind": "review",
            "score": 2,
            "scale": {"min": 1, "max": 5},
            "comment": entry["text"],
        }
        for number, entry in enumerate(entries)
    ]
    send_raw(settings, COMMUNICATIONS, [orjson.dumps(e) for e in events])
    send_raw(settings, FEEDBACK, [orjson.dumps(r) for r in ratings])
    ids = [e["event_id"] for e in events]
    wait_until(lambda: len(indexed(settings, ids)) == len(ids), what="the corpus indexed")
    rating_ids = [r["event_id"] for r in ratings]
    wait_until(
        lambda: len(indexed(settings, rating_ids, FEEDBACK_ALIAS)) == len(rating_ids),
        what="the corpus as feedback comments",
    )
    comments = [
        orjson.dumps(docs[0]).decode()
        for docs in indexed(settings, rating_ids, FEEDBACK_ALIAS).values()
    ]

    documents = [orjson.dumps(docs[0]).decode() for docs in indexed(settings, ids).values()]
    wanted = set(ids)
    # The scored topic is written right after Elasticsearch acknowledged: wait for it too.
    wait_until(
        lambda: wanted <= {r["event_id"] for r in read_topic(settings, SCORED)},
        what="the corpus on the scored topic",
    )
    scored = [
        orjson.dumps(r).decode() for r in read_topic(settings, SCORED) if r["event_id"] in wanted
    ]
    assert len(documents) == len(scored) == len(ids)
    leaks = sorted({v for v in values for text in documents + scored + comments if v in text})
    assert leaks == [], f"raw PII downstream: {leaks[:10]}"
    assert sum('"pii":{' in d and '"pii":{}' not in d for d in documents) >= len(values) // 3
