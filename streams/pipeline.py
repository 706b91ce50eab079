"""The pure part of the worker: from raw Kafka messages to scored records and dead letters.

No I/O here, so every rule is testable without servers. The agents feed it
batches of :class:`Incoming` messages and hand its :class:`BatchResult` to the sinks.

>>> from datetime import datetime, timezone
>>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> ok = b'{"event_id":"e1","occurred_at":"2026-01-01T00:00:00Z","customer_id":"c1",'
>>> ok += b'"channel":"chat","direction":"inbound","text":"Where is my parcel?"}'
>>> good = Incoming(ok, b"c1", "crm.communications", 0, 7)
>>> bad = Incoming(b"{oops", None, "crm.communications", 0, 8)
>>> result = process_communications([good, bad], now=now)
>>> [s.record.event_id for s in result.scored], [d.reason for d in result.dead]
(['e1'], ['not_json'])
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from schemas.events import DeadLetter, ScoredCommunication, SourcePosition
from schemas.parsing import InvalidEvent, parse_communication


@dataclass(frozen=True, slots=True)
class Incoming:
    """A Kafka message as the pipeline sees it."""

    value: bytes | None
    key: bytes | None
    topic: str
    partition: int
    offset: int

    @property
    def position(self) -> SourcePosition:
        return SourcePosition(topic=self.topic, partition=self.partition, offset=self.offset)


@dataclass(frozen=True, slots=True)
class Scored:
    """A valid message and the record made from it (the message is kept for dead-lettering)."""

    message: Incoming
    record: ScoredCommunication


@dataclass(slots=True)
class BatchResult:
    scored: list[Scored] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


def encode_original(value: bytes | None) -> tuple[str | None, Literal["utf-8", "base64", "none"]]:
    """Keep the original bytes losslessly in a JSON string.

    >>> encode_original("退款".encode()), encode_original(b"\\xff\\x00")
    (('退款', 'utf-8'), ('/wA=', 'base64'))
    """
    if value is None:
        return None, "none"
    try:
        return value.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(value).decode("ascii"), "base64"


def dead_letter(message: Incoming, reason: str, text: str, *, now: datetime) -> DeadLetter:
    """A dead letter carrying the message's original bytes, its position and why it failed."""
    original, encoding = encode_original(message.value)
    key, _ = encode_original(message.key)
    return DeadLetter(
        reason=reason,
        message=text,
        source=message.position,
        key=key,
        original=original,
        original_encoding=encoding,
        failed_at=now,
    )


def process_communications(messages: Sequence[Incoming], *, now: datetime) -> BatchResult:
    """Validate and enrich a batch from ``crm.communications``; bad messages become dead letters."""
    result = BatchResult()
    for message in messages:
        try:
            event = parse_communication(message.value)
            record = ScoredCommunication(
                **event.model_dump(), processed_at=now, source=message.position
            )
        except InvalidEvent as invalid:
            result.dead.append(dead_letter(message, invalid.reason, invalid.message, now=now))
        except Exception as error:  # a bug must cost one message, never the worker
            result.dead.append(dead_letter(message, "processing_error", repr(error), now=now))
        else:
            result.scored.append(Scored(message, record))
    return result
