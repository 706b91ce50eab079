"""Property-based: a stream mixing valid and malformed messages, through real Kafka and the worker.

Hypothesis draws the messages (more than 10,000); each carries what it should
become. Then everything is sent at once and the outcome is checked on the real
servers: every malformed message is on ``crm.deadletter`` with the expected
reason and its original bytes, every valid one is in Elasticsearch, and the
worker is still alive.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from config.settings import Settings
from crmstream.infra import WorkerProcess
from crmstream.produce import produce
from streams.topics import COMMUNICATIONS, DEADLETTER
from tests.integration.support import assert_matches_contract, indexed, read_topic, wait_until

MESSAGES_WANTED = 10_000
CHANNELS = ["phone", "email", "chat", "social", "sms", "other"]
json_ints = st.integers(-(2**53), 2**53)  # what JSON numbers hold exactly


@dataclass(frozen=True)
class Drawn:
    value: bytes | None
    expected: str  # "valid" or the dead-letter reason
    event_id: str | None = None


def texts() -> st.SearchStrategy[str]:
    # Any Unicode, plus realistic pieces: Chinese, PII-like digits, HTML, quotes.
    pieces = st.sampled_from(
        ["退款", "快递三天没到", "<p>Hi</p>", "> quoted", "+1 415 555 0132", "4111 1111 1111 1111",
         "a@b.co", "\u200b", "\r\n", "--\nBob"]
    )  # fmt: skip
    return st.lists(st.one_of(st.text(max_size=40), pieces), max_size=4).map("".join)


@st.composite
def valid_event(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))),
        "occurred_at": draw(
            st.datetimes(datetime(2025, 6, 1), datetime(2026, 10, 31), timezones=st.just(UTC))
        ).isoformat(),
        "customer_id": draw(st.text(min_size=1, max_size=40)),
        "channel": draw(st.sampled_from(CHANNELS)),
        "direction": draw(st.sampled_from(["inbound", "outbound"])),
        "text": draw(texts()),
    }
    for name, strategy in {
        "conversation_id": st.text(min_size=1, max_size=30),
        "agent_id": st.text(min_size=1, max_size=30),
        "subject": texts(),
        "need": st.sampled_from(["refund", "delivery", "billing"]),
        "priority": st.sampled_from(["P1", "P2", "P3", "P4"]),
        "metadata": st.dictionaries(st.text(max_size=10), json_ints | st.text(max_size=10)),
        "unknown_extra_field": json_ints,
    }.items():
        if draw(st.booleans()):
            event[name] = draw(strategy)
    return event


@st.composite
def message(draw: st.DrawFn) -> Drawn:
    event = draw(valid_event())
    # Mostly valid, every kind of breakage often, oversized texts (256 KB each) rarely.
    kind = draw(
        st.sampled_from(
            ["valid"] * 50
            + ["not_utf8", "not_json", "not_object", "future", "empty"] * 8
            + ["schema"] * 12
            + ["too_long"]
        )
    )
    if kind == "valid":
        # Fresh ids: Hypothesis may draw the same id twice, and a duplicate is not the point here.
        event["event_id"] = str(uuid.uuid4())
        return Drawn(orjson.dumps(event), "valid", event["event_id"])
    if kind == "not_utf8":
        body = orjson.dumps(event)
        cut = draw(st.integers(0, len(body)))
        return Drawn(body[:cut] + b"\xff\xfe" + body[cut:], "not_utf8")
    if kind == "not_json":
        text = orjson.dumps(event).decode()
        return Drawn(("{" + text[: draw(st.integers(0, len(text) - 2))]).encode(), "not_json")
    if kind == "not_object":
        value = draw(st.one_of(st.lists(json_ints, max_size=3), json_ints, st.text(max_size=20)))
        return Drawn(orjson.dumps(value), "not_object")
    if kind == "schema":
        breakage = draw(st.sampled_from(["drop", "channel", "direction", "type", "naive_time"]))
        if breakage == "drop":
            del event[
                draw(
                    st.sampled_from(
                        ["event_id", "occurred_at", "customer_id", "channel", "direction", "text"]
                    )
                )
            ]
        elif breakage == "channel":
            event["channel"] = draw(st.text(max_size=10).filter(lambda c: c not in CHANNELS))
        elif breakage == "direction":
            event["direction"] = "sideways"
        elif breakage == "type":
            event["text"] = draw(st.one_of(json_ints, st.lists(st.text(max_size=5), max_size=2)))
        else:
            event["occurred_at"] = "2026-01-05T08:00:00"
        return Drawn(orjson.dumps(event), "schema")
    if kind == "too_long":
        event["text"] = "x" * (256 * 1024 + draw(st.integers(1, 1000)))
        return Drawn(orjson.dumps(event), "text_too_long")
    if kind == "future":
        event["occurred_at"] = (
            datetime.now(UTC) + timedelta(days=draw(st.integers(3, 3000)))
        ).isoformat()
        return Drawn(orjson.dumps(event), "future_timestamp")
    return Drawn(None, "empty")


def draw_messages() -> list[Drawn]:
    drawn: list[Drawn] = []

    @hypothesis_settings(
        max_examples=250,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(message(), min_size=40, max_size=60))
    def collect(batch: list[Drawn]) -> None:
        drawn.extend(batch)

    while len(drawn) < MESSAGES_WANTED:
        collect()
    return drawn


def decode_original(letter: dict[str, Any]) -> bytes | None:
    if letter["original_encoding"] == "none":
        return None
    if letter["original_encoding"] == "base64":
        return base64.b64decode(letter["original"])
    return str(letter["original"]).encode()


def test_every_malformed_message_is_dead_lettered_and_every_valid_one_indexed(
    settings: Settings, worker: WorkerProcess
) -> None:
    drawn = draw_messages()
    assert len(drawn) >= MESSAGES_WANTED
    keyed = {f"edge-{i}": d for i, d in enumerate(drawn)}
    topic = settings.topic_name(COMMUNICATIONS)
    asyncio.run(produce(settings, [(topic, k.encode(), d.value) for k, d in keyed.items()]))

    malformed = {k: d for k, d in keyed.items() if d.expected != "valid"}
    valid_ids = [d.event_id for d in keyed.values() if d.event_id is not None]
    assert len(malformed) > 1000 and len(valid_ids) > 1000

    def dead_letters() -> dict[str, dict[str, Any]]:
        return {r["key"]: r for r in read_topic(settings, DEADLETTER) if r.get("key") in malformed}

    wait_until(
        lambda: len(dead_letters()) == len(malformed), timeout_s=600, what="all dead letters"
    )
    letters = dead_letters()
    assert_matches_contract(letters.values(), "dead-letter")
    wrong = {
        k: (d.expected, letters[k]["reason"])
        for k, d in malformed.items()
        if letters[k]["reason"] != d.expected
    }
    assert wrong == {}, f"unexpected reasons: {list(wrong.items())[:5]}"
    assert all(decode_original(letters[k]) == d.value for k, d in malformed.items())
    assert all(letters[k]["source"]["topic"] == topic for k in malformed)

    wait_until(
        lambda: len(indexed(settings, valid_ids)) == len(valid_ids),
        timeout_s=600,
        what="all valid events indexed",
    )
    assert worker.alive
