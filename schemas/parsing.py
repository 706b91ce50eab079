"""Turn the bytes of a Kafka message into a validated event, or say precisely why not.

Every rejection is an :class:`InvalidEvent` with a stable machine-readable
``reason`` (``empty``, ``not_utf8``, ``not_json``, ``not_object``, ``schema``,
``text_too_long``, ``future_timestamp``) and a message for people.

>>> from datetime import datetime, timezone
>>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> try:
...     parse_event(b'{"event_id": "e1", "channel": "fax"}', CommunicationEvent, now=now)
... except InvalidEvent as error:
...     print(error.reason, "|", error.message[:60])
schema | occurred_at: Field required; customer_id: Field required; ch
>>> try:
...     parse_event(b"\\xff", CommunicationEvent, now=now)
... except InvalidEvent as error:
...     print(error)
not_utf8: message is not valid UTF-8 (byte 0xff at position 0)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

import orjson
from pydantic import BaseModel, ValidationError

from crmstream.errors import CrmstreamError
from schemas.events import CommunicationEvent, FeedbackEvent, LabelEvent

EventT = TypeVar("EventT", bound=BaseModel)


class InvalidEvent(CrmstreamError, ValueError):
    """A message that breaks the contract; ``reason`` is a stable machine-readable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    """Hard limits at the edge: past them an event is refused, not trimmed."""

    text_max_bytes: int = 256 * 1024
    max_future: timedelta = timedelta(hours=24)


DEFAULT_LIMITS = EdgeLimits()

# The free-text field of each contract, which the size limit applies to.
TEXT_FIELDS: dict[type[BaseModel], tuple[str, ...]] = {
    CommunicationEvent: ("text", "subject"),
    FeedbackEvent: ("comment",),
    LabelEvent: (),
}


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


def parse_event(
    raw: bytes | None, contract: type[EventT], *, now: datetime, limits: EdgeLimits = DEFAULT_LIMITS
) -> EventT:
    """Validate a message against ``contract``; raise :class:`InvalidEvent` if it is bad."""
    event = validate_event(decode_event(raw, contract, limits=limits), contract)
    check_not_future(event, now=now, limits=limits)
    return event


def decode_event(
    raw: bytes | None, contract: type[BaseModel], *, limits: EdgeLimits = DEFAULT_LIMITS
) -> dict[str, Any]:
    """:func:`parse_event`'s checks before the contract: a JSON object whose free texts
    are within the size limit."""
    value = decode_object(raw)
    for field in TEXT_FIELDS.get(contract, ()):
        text = value.get(field)
        if isinstance(text, str) and len(text) * 4 > limits.text_max_bytes:  # cheap pre-check
            size = len(text.encode("utf-8"))
            if size > limits.text_max_bytes:
                raise InvalidEvent(
                    "text_too_long",
                    f"{field} is {size} bytes; the limit is {limits.text_max_bytes}",
                )
    return value


def validate_event(value: dict[str, Any], contract: type[EventT]) -> EventT:
    """:func:`parse_event`'s contract check of a decoded message."""
    try:
        # The model's own validator, as model_validate calls it but without its keyword
        # arguments, which cost a third of validating a small event.
        return cast(EventT, contract.__pydantic_validator__.validate_python(value))
    except ValidationError as exc:
        raise InvalidEvent("schema", describe_validation_error(exc)) from None


def check_not_future(
    event: BaseModel, *, now: datetime, limits: EdgeLimits = DEFAULT_LIMITS
) -> None:
    """:func:`parse_event`'s last check: the event did not happen too far ahead of ``now``."""
    occurred_at = getattr(event, "occurred_at", None)
    if isinstance(occurred_at, datetime) and occurred_at > now + limits.max_future:
        raise InvalidEvent(
            "future_timestamp",
            f"occurred_at {occurred_at.isoformat()} is more than {limits.max_future} ahead of now",
        )
