"""Customer profiles end to end: ``crmstream replay`` twice, a worker killed in between,
``crm-customers`` checked against what was sent, ``crmstream forget``, then idle
customers evicted.

One worker run serves every check (the suite stays short): the same files are
replayed twice (the same event ids at new offsets) with a worker killed (-9) and
replaced in between (so the table comes back from its changelog on an empty state
folder); every customer must still have exactly one document whose counts are
those of the file, and scored records carry the customer's segment. Then one
customer is forgotten: their documents, profile, alert state, pending turns and the
learner's examples go, each part audited, and the stream carries on.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from config.settings import Settings
from crmstream.generator import ARCHETYPES, EventGenerator
from streams.kafka import partition_for
from streams.learner import latest_snapshot
from streams.search_index import AUDIT_ALIAS, CUSTOMERS_ALIAS, create_client
from streams.topics import COMMUNICATIONS, CUSTOMER_CONTACTS, FEEDBACK, MODEL_EVENTS, SCORED
from tests.conftest import start_scoped_worker, worker_env
from tests.integration.support import consumer_lag, indexed, read_topic, send_raw, wait_until

T0 = datetime(2026, 3, 2, tzinfo=UTC)
CUSTOMERS_CONFIG = """
segments: {count: 4, min_contacts: 3, warmup: 20}
state: {idle: 1d}
"""
COMMUNICATION_FIELDS = [
    "event_id",
    "occurred_at",
    "customer_id",
    "channel",
    "direction",
    "text",
    "conversation_id",
    "agent_id",
    "subject",
    "language",
    "need",
    "priority",
    "metadata",
]
FEEDBACK_FIELDS = [
    "event_id",
    "occurred_at",
    "customer_id",
    "conversation_id",
    "agent_id",
    "kind",
    "score",
    "scale",
    "comment",
    "language",
    "need",
]


def write_rows(path: Path, rows: list[dict[str, Any]], fields: list[str]) -> Path:
    """JSON Lines with every mapped column present (an absent value is null)."""
    path.write_bytes(b"".join(orjson.dumps({f: r.get(f) for f in fields}) + b"\n" for r in rows))
    return path


def crmstream(settings: Settings, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "crmstream", *args],
        env={**os.environ, **worker_env(settings), "COLUMNS": "200"},
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def replay(settings: Settings, path: Path, kind: str, fields: list[str]) -> None:
    maps = [arg for f in fields for arg in ("--map", f"{f}={f}")]
    output = crmstream(settings, "replay", str(path), "--kind", kind, *maps)
    assert "skipped 0 rows" in output, output


def caught_up(settings: Settings) -> bool:
    return consumer_lag(settings, COMMUNICATIONS, FEEDBACK, CUSTOMER_CONTACTS) == 0


def documents(settings: Settings, alias: str = CUSTOMERS_ALIAS) -> dict[str, dict[str, Any]]:
    client = create_client(settings)
    name = settings.index_name(alias)
    try:
        client.indices.refresh(index=name)
        hits = client.search(index=name, size=1000, query={"match_all": {}})["hits"]["hits"]
        return {hit["_id"]: hit["_source"] for hit in hits}
    finally:
        client.close()


def forget_and_check(settings: Settings, customer: str, comms: list[dict[str, Any]]) -> None:
    """``crmstream forget``: every trace of the customer goes, each part audited."""
    mine = [c for c in comms if c["customer_id"] == customer]
    conversations = {c["conversation_id"] for c in mine}
    output = crmstream(settings, "forget", customer)
    assert f"communications {len(mine)}," in output, output
    assert f"conversations {len(conversations)}, learner_examples {len(mine)}" in output, output
    request = output.split("forget request ", 1)[1].split()[0]

    def audited() -> dict[str, dict[str, Any]]:
        found = documents(settings, AUDIT_ALIAS)
        parts = {d["component"] for d in found.values() if d["request_id"] == request}
        done = {"command", "profile", "alert-state", "conversations"} <= parts
        return found if done and len(found) == 3 + len(conversations) else {}

    audit = wait_until(audited, timeout_s=120, what="the forget request audited")
    assert audit[f"{request}:profile"]["removed"] == {"profiles": 1}
    # The default rules watch customers: the customer had alert windows.
    assert audit[f"{request}:alert-state"]["removed"]["alert_state"] == 1
    assert indexed(settings, [c["event_id"] for c in mine]) == {}
    assert customer not in documents(settings)
    # The learner dropped the customer's communications from its join memory.
    forgotten = wait_until(
        lambda: [
            e for e in read_topic(settings, MODEL_EVENTS, idle_s=1.0)
            if e["kind"] == "forgotten" and e["request_id"] == request
        ],
        timeout_s=120, what="the learner's forgotten event",
    )  # fmt: skip
    assert forgotten[0]["removed"] >= len(mine)
    event_ids = {c["event_id"] for c in mine}

    def newest_snapshot_without_them() -> bool:
        snapshot = asyncio.run(latest_snapshot(settings))
        return snapshot is not None and not event_ids & set(snapshot.examples)

    wait_until(newest_snapshot_without_them, timeout_s=120, what="a snapshot without them")


def check_counts(
    found: dict[str, dict[str, Any]], comms: list[dict[str, Any]], ratings: list[dict[str, Any]]
) -> None:
    contacts = Counter(c["customer_id"] for c in comms)
    rated = Counter(r["customer_id"] for r in ratings)
    assert set(found) == set(contacts) | set(rated)
    for customer, document in found.items():
        assert document["customer_id"] == customer
        assert document["contacts_total"] == contacts[customer], customer
        assert document["ratings"] == rated[customer], customer
        inbound = sum(
            1 for c in comms if c["customer_id"] == customer and c["direction"] == "inbound"
        )
        assert sum(document["need_counts"].values()) <= inbound


def test_one_document_per_customer_after_two_replays_and_a_restart(
    scoped: Settings, tmp_path: Path
) -> None:
    config = tmp_path / "customers.yml"
    config.write_text(CUSTOMERS_CONFIG)
    env = {"CRMSTREAM_CUSTOMERS_FILE": str(config), "CRMSTREAM_MODEL_SNAPSHOT_INTERVAL_S": "2"}
    generator = EventGenerator(seed=5, customers=40, agents=4, start=T0, archetypes=ARCHETYPES)
    events = list(generator.events(1500))
    comms = [e.value for e in events if e.kind == "communication"]
    ratings = [e.value for e in events if e.kind == "feedback"]
    comms_file = write_rows(tmp_path / "comms.jsonl", comms, COMMUNICATION_FIELDS)
    ratings_file = write_rows(tmp_path / "ratings.jsonl", ratings, FEEDBACK_FIELDS)

    worker = start_scoped_worker(scoped, tmp_path / "worker-1.log", **env)
    try:
        replay(scoped, comms_file, "communication", COMMUNICATION_FIELDS)
        replay(scoped, ratings_file, "feedback", FEEDBACK_FIELDS)
        wait_until(lambda: caught_up(scoped), timeout_s=300, what="the first replay")
        first = documents(scoped)
        check_counts(first, comms, ratings)

        worker.kill()  # the profiles now live only in the changelog
        worker = start_scoped_worker(scoped, tmp_path / "worker-2.log", **env)
        replay(scoped, comms_file, "communication", COMMUNICATION_FIELDS)
        replay(scoped, ratings_file, "feedback", FEEDBACK_FIELDS)
        wait_until(lambda: caught_up(scoped), timeout_s=300, what="the second replay")
        second = documents(scoped)
        check_counts(second, comms, ratings)
        assert {c: d["contacts_total"] for c, d in second.items()} == {
            c: d["contacts_total"] for c, d in first.items()
        }

        # Segments: customers with enough contacts have one, described from its centre,
        # and the scored records of the second replay carry it.
        segmented = {c: d for c, d in second.items() if d["segment"] is not None}
        assert len(segmented) >= 30
        assert all(d["segment_description"].startswith("mostly") for d in segmented.values())
        scored = read_topic(scoped, SCORED, idle_s=1.0)
        stamped = [r for r in scored if r.get("customer_segment")]
        assert len(stamped) > len(comms) // 2
        assert all(
            r["customer_segment"] == second[r["customer_id"]]["segment"] for r in stamped[-50:]
        )

        victim = Counter(c["customer_id"] for c in comms).most_common(1)[0][0]
        forget_and_check(scoped, victim, comms)

        # Days later in event time, one newcomer per partition (and the forgotten
        # customer, back with one message): everyone else is idle.
        later = T0 + timedelta(days=3)
        newcomers: dict[int, str] = {-1: victim}
        for number in range(200):
            customer = f"late-{number}"
            newcomers.setdefault(
                partition_for(customer.encode(), scoped.topic_partitions), customer
            )
        send_raw(
            scoped,
            COMMUNICATIONS,
            [
                orjson.dumps({
                    "event_id": f"e-{customer}", "occurred_at": later.isoformat(),
                    "customer_id": customer, "channel": "chat", "direction": "inbound",
                    "text": "Hello, is anyone there?",
                })
                for customer in newcomers.values()
            ],
        )  # fmt: skip
        wait_until(
            lambda: set(documents(scoped)) == set(newcomers.values()),
            timeout_s=120,
            what="idle customers evicted",
        )
        expired = worker.metric("crmstream_table_keys_expired_total", table="customer-profiles")
        assert expired == len(second) - 1  # the forgotten one was gone already
        # The forgotten customer starts afresh: their old state is gone from the table.
        assert documents(scoped)[victim]["contacts_total"] == 1
    finally:
        worker.stop()
