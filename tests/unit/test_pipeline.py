from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest

from schemas.parsing import EdgeLimits
from streams.pipeline import Edge, EdgeConfig, Incoming

EDGE = Edge(EdgeConfig())

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
    result = EDGE.communications([message(orjson.dumps(VALID), 41)], now=NOW)
    assert result.dead == []
    (accepted,) = result.accepted
    record = accepted.record
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
    result = EDGE.communications([message(value, 7)], now=NOW)
    assert result.accepted == []
    (letter,) = result.dead
    assert letter.reason == reason
    assert letter.message
    assert letter.source.offset == 7


def test_dead_letter_keeps_the_original_bytes() -> None:
    raw = b"\xff\x00binary"
    (letter,) = EDGE.communications([message(raw)], now=NOW).dead
    assert letter.original_encoding == "base64"
    assert letter.original is not None and base64.b64decode(letter.original) == raw
    text = '{"event_id": "x", "text": "退款"}'.encode()
    (letter,) = EDGE.communications([message(text)], now=NOW).dead
    assert letter.original_encoding == "utf-8" and letter.original == text.decode()


def test_schema_message_names_every_broken_field() -> None:
    (letter,) = EDGE.communications(
        [message(orjson.dumps({"event_id": "x", "channel": "fax"}))], now=NOW
    ).dead
    for field in ("occurred_at", "customer_id", "channel", "direction", "text"):
        assert field in letter.message


def test_good_messages_around_bad_ones_are_all_kept() -> None:
    values = [
        orjson.dumps({**VALID, "event_id": f"e{i}"}) if i % 3 else b"garbage" for i in range(30)
    ]
    result = EDGE.communications([message(v, i) for i, v in enumerate(values)], now=NOW)
    assert len(result.accepted) == 20 and len(result.dead) == 10
    assert {d.source.offset for d in result.dead} == set(range(0, 30, 3))


def test_text_is_normalized_redacted_and_language_detected() -> None:
    text = "  Bitte   helfen!  Mail: jane.doe@example.com\u00a0oder +49 30 901820  "
    raw = orjson.dumps(
        {**VALID, "text": "我的快递还没到，电话13812345678，订单号A12345", "subject": "x@y.com"}
    )
    (accepted,) = EDGE.communications([message(raw)], now=NOW).accepted
    record = accepted.record
    assert "13812345678" not in record.text and "[PHONE]" in record.text
    assert "A12345" in record.text  # an order number is not PII
    assert record.language == "zh"
    assert record.subject == "[EMAIL]"
    assert record.text_info.pii == {"PHONE": 1}
    (accepted,) = EDGE.communications(
        [message(orjson.dumps({**VALID, "text": text}))], now=NOW
    ).accepted
    assert "jane.doe@example.com" not in accepted.record.text
    assert accepted.record.text == accepted.record.text.strip()


def test_long_text_is_cut_after_redaction_and_flagged() -> None:
    edge = Edge(EdgeConfig(text_budget_chars=200))
    card = "4111 1111 1111 1111"
    text = "Refund please. " * 10 + card + " end. " + "More words here. " * 40
    (accepted,) = edge.communications(
        [message(orjson.dumps({**VALID, "text": text}))], now=NOW
    ).accepted
    record = accepted.record
    assert record.text_info.truncated
    assert record.text_info.original_chars > 200 >= len(record.text) - 5
    assert "4111" not in record.text and "1111 1111" not in record.text


def test_hard_limit_and_future_time_come_from_the_config() -> None:
    edge = Edge(EdgeConfig(limits=EdgeLimits(text_max_bytes=1024)))
    big = orjson.dumps({**VALID, "text": "x" * 2000})
    future = orjson.dumps({**VALID, "occurred_at": "2030-01-01T00:00:00Z"})
    result = edge.communications([message(big, 1), message(future, 2)], now=NOW)
    assert [d.reason for d in result.dead] == ["text_too_long", "future_timestamp"]


def test_feedback_and_labels_are_checked_too() -> None:
    feedback = {
        "event_id": "f1", "occurred_at": "2026-02-28T10:00:00Z", "customer_id": "c1",
        "kind": "nps", "score": 3, "scale": {"min": 0, "max": 10},
        "comment": "Terrible. Call me on +1 415 555 0132",
    }  # fmt: skip
    result = EDGE.feedback(
        [message(orjson.dumps(feedback)), message(orjson.dumps({**feedback, "score": 11}))], now=NOW
    )
    (accepted,) = result.accepted
    assert "[PHONE]" in accepted.record.comment and accepted.record.language == "en"
    assert [d.reason for d in result.dead] == ["schema"]
    labels = EDGE.labels(
        [message(orjson.dumps({"event_id": "e1", "need": "refund", "labelled_by": "ana"})),
         message(orjson.dumps({"event_id": "e1", "labelled_by": "ana"}))],
        now=NOW,
    )  # fmt: skip
    assert len(labels.accepted) == 1 and [d.reason for d in labels.dead] == ["schema"]
