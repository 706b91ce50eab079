"""The records on crmstream's topics, as pydantic models: the event contracts.

Inputs: :class:`CommunicationEvent` (``crm.communications``), :class:`FeedbackEvent`
(``crm.feedback``), :class:`LabelEvent` (``crm.labels``). Outputs:
:class:`ScoredCommunication` (``crm.communications.scored``), :class:`Alert`
(``crm.alerts``), :class:`DeadLetter` (``crm.deadletter``), :class:`EmergingNeed`
(``crm.model-events``, its ``kind`` ``emerging_need``).

``SCHEMA_VERSION`` is stamped on every record crmstream emits, so downstream
consumers can tell which contract a record follows; the JSON Schemas exported
from these models live in ``schemas/json/v<major>/``.

>>> FeedbackEvent.model_validate({
...     "event_id": "f1", "occurred_at": "2026-01-05T09:00:00Z", "customer_id": "c1",
...     "kind": "nps", "score": 9, "scale": {"min": 0, "max": 10},
... }).normalized_score()
0.9
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = "1.0"

Identifier = Annotated[str, Field(min_length=1, max_length=256)]
Label = Annotated[str, Field(min_length=1, max_length=128)]
Priority = Literal["P1", "P2", "P3", "P4"]


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


class FeedbackKind(StrEnum):
    CSAT = "csat"
    NPS = "nps"
    STARS = "stars"
    REVIEW = "review"
    COMPLAINT = "complaint"


class Contract(BaseModel):
    """Input contracts ignore unknown fields (producers may add some) and are immutable."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class CommunicationEvent(Contract):
    """A message between a customer and the company, on ``crm.communications``."""

    event_id: Identifier
    occurred_at: AwareDatetime
    customer_id: Identifier
    channel: Channel
    direction: Direction
    text: str
    conversation_id: Identifier | None = None
    agent_id: Identifier | None = None
    subject: str | None = None
    language: str | None = Field(None, max_length=16, description="Producer's hint, ISO 639-1")
    need: Label | None = Field(None, description="The customer's need, when a person labelled it")
    priority: Priority | None = Field(None, description="Priority label, when known")
    metadata: dict[str, Any] = Field(default_factory=dict)


def normalize_score(score: float, lo: float, hi: float) -> float:
    """Map ``score`` on the scale ``lo..hi`` to [0, 1] (clipped), 0 being the worst.

    The one rule for feedback scores: :meth:`FeedbackEvent.normalized_score`, the
    satisfaction model's targets (:mod:`models.satisfaction`, :mod:`models.bundle`)
    and ``crmstream eval`` all use it.

    >>> normalize_score(4, 1, 5)   # CSAT 4 of 5
    0.75
    >>> normalize_score(9, 0, 10)  # NPS 9 of 10
    0.9
    >>> normalize_score(1, 1, 5)   # 1 star of 5
    0.0
    >>> normalize_score(7, 1, 5)   # out of range: clipped
    1.0
    """
    if not hi > lo:
        raise ValueError(f"a scale needs lo < hi, got {lo}..{hi}")
    value = (float(score) - lo) / (hi - lo)
    if math.isnan(value):
        raise ValueError("score is not a number")
    return min(1.0, max(0.0, value))


class Scale(BaseModel):
    """The range a feedback score is given on, e.g. 1-5 for CSAT or 0-10 for NPS."""

    model_config = ConfigDict(frozen=True)

    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.max > self.min:
            raise ValueError(f"scale max ({self.max}) must be greater than min ({self.min})")
        return self


class FeedbackEvent(Contract):
    """A rating or review from a customer, on ``crm.feedback``."""

    event_id: Identifier
    occurred_at: AwareDatetime
    customer_id: Identifier
    conversation_id: Identifier | None = None
    agent_id: Identifier | None = None
    kind: FeedbackKind
    score: float
    scale: Scale
    comment: str = ""
    language: str | None = Field(None, max_length=16)
    need: Label | None = Field(None, description="The category the customer chose, if any")
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _score_on_scale(self) -> Self:
        if not self.scale.min <= self.score <= self.scale.max:
            raise ValueError(
                f"score {self.score} is outside its scale {self.scale.min}..{self.scale.max}"
            )
        return self

    def normalized_score(self) -> float:
        """The score mapped to [0, 1] (0 worst, 1 best), to six decimals."""
        return round(normalize_score(self.score, self.scale.min, self.scale.max), 6)


class LabelEvent(Contract):
    """A person's correction for an earlier event, on ``crm.labels``."""

    event_id: Identifier = Field(description="The event being labelled")
    need: Label | None = None
    priority: Priority | None = None
    satisfaction: float | None = Field(None, ge=0.0, le=1.0)
    labelled_by: Identifier
    labelled_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _says_something(self) -> Self:
        if self.need is None and self.priority is None and self.satisfaction is None:
            raise ValueError("a label needs at least one of need, priority or satisfaction")
        return self


class SourcePosition(BaseModel):
    """Where a record was read: lets anyone find the original message again."""

    topic: str
    partition: int
    offset: int


class TextInfo(BaseModel):
    """What the edge did to the text before anything else saw it."""

    original_chars: int = Field(description="Length after cleaning, before truncation")
    truncated: bool = Field(description="Cut to head and tail to fit the model/index budget")
    pii: dict[str, int] = Field(
        default_factory=dict, description="Redacted values per type, e.g. {'EMAIL': 1}"
    )


class NeedCandidate(BaseModel):
    # Frozen: a worker shares one candidate among the records it scores the same.
    model_config = ConfigDict(frozen=True)

    label: str
    confidence: float


class ScoredCommunication(CommunicationEvent):
    """A communication after the worker processed it, on ``crm.communications.scored``.

    ``text`` and ``subject`` are normalized and PII-redacted; ``language`` is detected.
    ``need`` is the person's label when the event carried one (``need_source`` =
    ``label``), else the model's prediction (``model``).
    """

    schema_version: str = SCHEMA_VERSION
    processed_at: datetime
    source: SourcePosition
    text_info: TextInfo
    need_source: Literal["label", "model"] | None = None
    need_confidence: float | None = Field(None, ge=0, le=1)
    need_top3: list[NeedCandidate] = Field(default_factory=list)
    need_terms: list[str] = Field(default_factory=list, description="Terms that drove the need")
    satisfaction: float | None = Field(None, ge=0, le=1, description="Predicted, 0 worst, 1 best")
    sentiment: Literal["negative", "neutral", "positive"] | None = None
    urgency: float | None = Field(None, ge=0, le=1)
    urgency_level: Priority | None = None
    keywords: list[str] = Field(default_factory=list)
    customer_segment: str | None = Field(
        None, description="The customer's segment when scored (see crm-customers)"
    )
    model_versions: dict[str, int] = Field(
        default_factory=dict, description="Version of each model used (bundle = examples learned)"
    )


class Alert(BaseModel):
    """A satisfaction alert (or its resolution), on ``crm.alerts``."""

    schema_version: str = SCHEMA_VERSION
    alert_id: Identifier
    rule: Identifier
    severity: Literal["info", "warning", "critical"]
    state: Literal["firing", "resolved"]
    dimension: Literal["customer", "agent", "channel", "need"]
    key: Identifier = Field(description="The customer, agent, channel or need that alerted")
    value: float
    threshold: float | None = None
    samples: int = Field(ge=0)
    window_start: datetime
    window_end: datetime
    fired_at: datetime
    message: str
    resolution: Literal["recovered", "no_data"] | None = Field(
        None,
        description="Why a resolved alert ended: its condition cleared, or its key went silent",
    )


class DeadLetter(BaseModel):
    """A message that could not be processed, on ``crm.deadletter``, with its original bytes."""

    schema_version: str = SCHEMA_VERSION
    reason: str = Field(description="Machine-readable, e.g. not_json, schema, text_too_long")
    message: str = Field(description="For people")
    source: SourcePosition
    key: str | None = Field(None, description="The message key, as text or base64")
    original: str | None = Field(description="The message value, as text when UTF-8, else base64")
    original_encoding: Literal["utf-8", "base64", "none"]
    failed_at: datetime


class EmergingExample(BaseModel):
    """One example message of an emerging need, as the learner got it (redacted)."""

    event_id: Identifier
    text: str


class EmergingNeed(BaseModel):
    """An emerging need, on ``crm.model-events`` (``kind`` ``emerging_need``): a cluster of
    inbound texts that the known needs do not explain (``trigger`` ``new``), or an
    unexplained topic far above its own long-run share (``surge``). See
    :mod:`models.emerging`. A label whose ``event_id`` is ``cluster_id`` (on
    ``crm.labels``) turns the cluster into a need class.
    """

    schema_version: str = SCHEMA_VERSION
    kind: Literal["emerging_need"] = "emerging_need"
    cluster_id: Identifier = Field(description="Stable id: the same on a replay")
    trigger: Literal["new", "surge"]
    top_terms: list[str] = Field(description="Its heaviest terms, heaviest first")
    size: int = Field(ge=0, description="Texts clustered into it since it started")
    recent: int = Field(ge=0, description="Of them, in the last window (24 h by default)")
    known: int = Field(ge=0, description="Of the recent ones, labelled with a known need")
    expected: float = Field(
        ge=0, description="Known texts expected if it were known traffic (new), or texts "
        "expected at its long-run share (surge)",
    )  # fmt: skip
    p_value: float = Field(ge=0, le=1)
    started: float = Field(description="Its first text's occurred_at, epoch seconds")
    at: float = Field(description="The occurred_at of the text that raised it, epoch seconds")
    hourly: list[Annotated[int, Field(ge=0)]] = Field(
        description="Its texts per hour, from the hour it started to the hour it was raised"
    )
    needs: dict[str, float] = Field(
        description="The needs its texts have or the need model gives them, with their share"
    )
    examples: list[EmergingExample] = Field(description="Up to 5 of its unlabelled texts")
