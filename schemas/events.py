"""The records on crmstream's topics, as pydantic models.

``schema_version`` is stamped on every record crmstream emits, so downstream
consumers can tell which contract a record follows.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"


class Channel(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    CHAT = "chat"
    SOCIAL = "social"
    SMS = "sms"
    OTHER = "other"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


Identifier = Field(min_length=1, max_length=256)


class CommunicationEvent(BaseModel):
    """A message between a customer and the company, on ``crm.communications``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: str = Identifier
    occurred_at: AwareDatetime
    customer_id: str = Identifier
    channel: Channel
    direction: Direction
    text: str
    conversation_id: str | None = Field(None, min_length=1, max_length=256)
    agent_id: str | None = Field(None, min_length=1, max_length=256)
    subject: str | None = None
    language: str | None = Field(None, max_length=16)
    need: str | None = Field(None, min_length=1, max_length=128)
    priority: Literal["P1", "P2", "P3", "P4"] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class SourcePosition(BaseModel):
    """Where a record was read: lets anyone find the original message again."""

    topic: str
    partition: int
    offset: int


class ScoredCommunication(CommunicationEvent):
    """A communication after the worker processed it, on ``crm.communications.scored``."""

    schema_version: str = SCHEMA_VERSION
    processed_at: datetime
    source: SourcePosition


class DeadLetter(BaseModel):
    """A message that could not be processed, on ``crm.deadletter``, with its original bytes."""

    schema_version: str = SCHEMA_VERSION
    reason: str  # machine-readable, e.g. "not_json", "schema", "elasticsearch_rejected"
    message: str  # for people
    source: SourcePosition
    key: str | None = None
    original: str | None  # the message value, as text when it is UTF-8, else base64
    original_encoding: Literal["utf-8", "base64", "none"]
    failed_at: datetime
