"""Turn the bytes of a Kafka message into a validated event, or say precisely why not.

>>> try:
...     parse_communication(b'{"event_id": "e1", "channel": "fax"}')
... except InvalidEvent as error:
...     print(error.reason, "|", error.message[:60])
schema | occurred_at: Field required; customer_id: Field required; ch
>>> try:
...     parse_communication(b"\\xff")
... except InvalidEvent as error:
...     print(error)
not_utf8: message is not valid UTF-8 (byte 0xff at position 0)
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from schemas.events import CommunicationEvent


class InvalidEvent(ValueError):
    """A message that breaks the contract; ``reason`` is a stable machine-readable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


def decode_object(raw: bytes | None) -> dict[str, Any]:
    """Decode a message value that must be a UTF-8 JSON object."""
    if raw is None:
        raise InvalidEvent("empty", "message has no value (tombstone)")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(
            "not_utf8",
            f"message is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at position {exc.start})",
        ) from None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("not_json", f"message is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidEvent("not_object", f"expected a JSON object, got {type(value).__name__}")
    return value


def describe_validation_error(exc: ValidationError) -> str:
    """One line per broken field: ``field: problem``."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
    )


def parse_communication(raw: bytes | None) -> CommunicationEvent:
    """Validate a message from ``crm.communications``; raise :class:`InvalidEvent` if it is bad."""
    value = decode_object(raw)
    try:
        return CommunicationEvent.model_validate(value)
    except ValidationError as exc:
        raise InvalidEvent("schema", describe_validation_error(exc)) from None
