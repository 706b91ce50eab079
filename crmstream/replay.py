"""Replay a CSV or JSON Lines file onto the input topics, mapping its columns to a contract.

The mapping says which column fills which field (dotted paths reach nested
fields such as ``scale.max``), which fields get a constant, and which columns
are kept under ``metadata``. It comes from flags or from a small YAML file:

.. code-block:: yaml

    kind: communication            # or feedback
    fields: {event_id: tweet_id, text: text, occurred_at: tweet_created, need: negativereason}
    constants: {channel: social, direction: inbound}
    metadata: [airline, airline_sentiment]
    timezone: America/Los_Angeles  # for times written without an offset

Rows that cannot be mapped or break the contract are reported and skipped.

>>> mapping = RowMapping(
...     kind="communication",
...     fields={"text": "review", "customer_id": "user"},
...     constants={"channel": "social", "direction": "inbound"},
... )
>>> event = mapping.to_event({"review": "Great food", "user": "u1"}, row_number=1, source="f.csv")
>>> event["text"], event["channel"], len(event["event_id"]) > 0
('Great food', 'social', True)
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ValidationError

from crmstream.errors import CrmstreamError
from crmstream.rows import UnreadableLine, parse_time, read_rows
from schemas.events import CommunicationEvent, FeedbackEvent
from schemas.parsing import describe_validation_error

Kind = Literal["communication", "feedback"]
Order = Literal["file", "time", "shuffle"]
CONTRACT: dict[str, type[BaseModel]] = {
    "communication": CommunicationEvent,
    "feedback": FeedbackEvent,
}
EVENT_ID_NAMESPACE = uuid.UUID("6f1c3f9e-0d4b-4a8e-9f57-7c5d3f1e2a10")


class MappingError(CrmstreamError, ValueError):
    """A row that cannot become an event; the message says which field and why."""


def event_time(value: str, zone: tzinfo) -> datetime:
    """A row's time (:func:`crmstream.rows.parse_time`; naive times in ``zone``), or
    :class:`MappingError`.

    >>> event_time("2/24/2015 11:35", ZoneInfo("America/Los_Angeles")).isoformat()
    '2015-02-24T11:35:00-08:00'
    """
    moment = parse_time(value, zone)
    if moment is None:
        raise MappingError(f"cannot read {value!r} as a time")
    return moment


def _parse_constant(value: str) -> Any:
    """``--set`` values: JSON where it parses (numbers, booleans), text otherwise."""
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _put(target: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[leaf] = value


@dataclass(frozen=True)
class RowMapping:
    """How one row of a file becomes one event."""

    kind: Kind
    fields: Mapping[str, str] = field(default_factory=dict)  # field path -> column
    constants: Mapping[str, Any] = field(default_factory=dict)  # field path -> value
    metadata: tuple[str, ...] = ()  # columns copied into metadata
    timezone: str = "UTC"

    @classmethod
    def from_file(cls, path: Path) -> RowMapping:
        spec = yaml.safe_load(path.read_text()) or {}
        unknown = set(spec) - {"kind", "fields", "constants", "metadata", "timezone"}
        if unknown:
            raise MappingError(f"{path}: unknown keys {sorted(unknown)}")
        return cls(
            kind=spec.get("kind", "communication"),
            fields=dict(spec.get("fields") or {}),
            constants=dict(spec.get("constants") or {}),
            metadata=tuple(spec.get("metadata") or ()),
            timezone=spec.get("timezone", "UTC"),
        )

    def merged(
        self,
        fields: Mapping[str, str],
        constants: Mapping[str, str],
        metadata: tuple[str, ...],
        timezone: str | None,
    ) -> RowMapping:
        """This mapping with flags layered on top (flags win)."""
        return RowMapping(
            kind=self.kind,
            fields={**self.fields, **fields},
            constants={**self.constants, **{k: _parse_constant(v) for k, v in constants.items()}},
            metadata=self.metadata + tuple(c for c in metadata if c not in self.metadata),
            timezone=timezone or self.timezone,
        )

    def to_event(
        self, row: Mapping[str, Any], *, row_number: int, source: str, now: datetime | None = None
    ) -> dict[str, Any]:
        """The event for one row (not yet validated against the contract)."""
        event: dict[str, Any] = {}
        for path, value in self.constants.items():
            _put(event, path, value)
        for path, column in self.fields.items():
            if column not in row:
                raise MappingError(f"column {column!r} (for {path}) is not in the file")
            value = row[column]
            if value is None or value == "":
                continue  # an empty cell is an absent optional field
            if path == "occurred_at" and isinstance(value, str):
                value = event_time(value, ZoneInfo(self.timezone)).isoformat()
            _put(event, path, value)
        if self.metadata:
            extra = {c: row.get(c) for c in self.metadata if row.get(c) not in (None, "")}
            event["metadata"] = {**event.get("metadata", {}), **extra}
        if "event_id" not in event:
            # Derived from the file and row: replaying the same file is idempotent.
            event["event_id"] = str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{source}:{row_number}"))
        else:
            event["event_id"] = str(event["event_id"])
        event.setdefault("occurred_at", (now or datetime.now(UTC)).isoformat())
        return event

    def validate(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event as its contract has it (types coerced); :class:`MappingError` if broken."""
        try:
            model = CONTRACT[self.kind].model_validate(event)
        except ValidationError as error:
            raise MappingError(describe_validation_error(error)) from None
        return model.model_dump(mode="json", exclude_none=True)


@dataclass
class ReplayPlan:
    """The events to send, and the rows that could not become events."""

    events: list[dict[str, Any]]
    skipped: list[tuple[int, str]]  # (row number, why)


def plan_replay(
    path: Path,
    mapping: RowMapping,
    *,
    order: Order = "file",
    shuffle_seed: int = 0,
    limit: int | None = None,
) -> ReplayPlan:
    """Map every row; keep the good ones in the requested order."""
    events: list[dict[str, Any]] = []
    skipped: list[tuple[int, str]] = []
    now = datetime.now(UTC)
    for number, row in enumerate(read_rows(path), 1):
        if isinstance(row, UnreadableLine):
            skipped.append((number, str(row)))
            continue
        try:
            event = mapping.validate(
                mapping.to_event(row, row_number=number, source=path.name, now=now)
            )
        except MappingError as error:
            skipped.append((number, str(error)))
            continue
        events.append(event)
    if order == "time":
        events.sort(key=lambda e: datetime.fromisoformat(e["occurred_at"]))  # stable
    elif order == "shuffle":
        random.Random(shuffle_seed).shuffle(events)
    return ReplayPlan(events[:limit] if limit is not None else events, skipped)
