from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest

from streams.pipeline import Incoming, process_communications

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
VALID = {
    "event_id": "e-1",
    "occurred_at": "2026-02-28T10:00:00Z",
    "customer_id": "cust-1",
    "channel": "email",
    "direction": "inbound",
    "text": "My parcel has not arrived",
    "conversation_id": "conv-1",
}


def message(value: bytes | None, offset: int = 0) -> Incoming:
    return Incoming(value, b"cust-1", "crm.communications", 2, offset)


def test_valid_event_becomes_a_scored_record_with_its_position() -> None:
    result = process_communications([message(orjson.dumps(VALID), 41)], now=NOW)
    assert result.dead == []
    (scored,) = result.scored
    record = scored.record
    assert record.event_id == "e-1" and record.text == VALID["text"]
    assert record.processed_at == NOW
    assert (record.source.topic, record.source.partition, record.source.offset) == (
        "crm.communications",
        2,
        41,
    )
    assert record.schema_version


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\xc3\x28", "not_utf8"),
        (b"{not json", "not_json"),
        (b"[1, 2]", "not_object"),
        (None, "empty"),
        (orjson.dumps({**VALID, "channel": "fax"}), "schema"),
        (orjson.dumps({k: v for k, v in VALID.items() if k != "text"}), "schema"),
        (orjson.dumps({**VALID, "occurred_at": "yesterday"}), "schema"),
        (orjson.dumps({**VALID, "occurred_at": "2026-02-28T10:00:00"}), "schema"),  # no timezone
        (orjson.dumps({**VALID, "direction": 3}), "schema"),
        (orjson.dumps({**VALID, "event_id": ""}), "schema"),
    ],
)
def test_malformed_messages_become_dead_letters_with_a_reason(
    value: bytes | None, reason: str
) -> None:
    result = process_communications([message(value, 7)], now=NOW)
    assert result.scored == []
    (letter,) = result.dead
    assert letter.reason == reason
    assert letter.message
    assert letter.source.offset == 7


def test_dead_letter_keeps_the_original_bytes() -> None:
    raw = b"\xff\x00binary"
    (letter,) = process_communications([message(raw)], now=NOW).dead
    assert letter.original_encoding == "base64"
    assert letter.original is not None and base64.b64decode(letter.original) == raw
    text = '{"event_id": "x", "text": "退款"}'.encode()
    (letter,) = process_communications([message(text)], now=NOW).dead
    assert letter.original_encoding == "utf-8" and letter.original == text.decode()


def test_schema_message_names_every_broken_field() -> None:
    (letter,) = process_communications(
        [message(orjson.dumps({"event_id": "x", "channel": "fax"}))], now=NOW
    ).dead
    for field in ("occurred_at", "customer_id", "channel", "direction", "text"):
        assert field in letter.message


def test_good_messages_around_bad_ones_are_all_kept() -> None:
    values = [
        orjson.dumps({**VALID, "event_id": f"e{i}"}) if i % 3 else b"garbage" for i in range(30)
    ]
    result = process_communications([message(v, i) for i, v in enumerate(values)], now=NOW)
    assert len(result.scored) == 20 and len(result.dead) == 10
    assert {d.source.offset for d in result.dead} == set(range(0, 30, 3))
