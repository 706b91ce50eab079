"""The pure part of the worker: from raw Kafka messages to clean records and dead letters.

No I/O here, so every rule is testable without servers. The agents feed an
:class:`Edge` batches of :class:`Incoming` messages and hand its
:class:`BatchResult` to the sinks. What the edge does to a communication, in order:
validate the contract (:mod:`schemas.parsing`) → normalize the text
(:mod:`streams.normalize`) → redact PII (:mod:`streams.redaction`) → cut to the
budget → detect the language (:mod:`streams.language`). Redaction runs before the
cut so that a PII value is never half-kept at the cut.

>>> from datetime import datetime, timezone
>>> edge = Edge(EdgeConfig())
>>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> ok = b'{"event_id":"e1","occurred_at":"2026-01-01T00:00:00Z","customer_id":"c1",'
>>> ok += b'"channel":"chat","direction":"inbound","text":"Where is my parcel? Mail me: a@b.com"}'
>>> good = Incoming(ok, b"c1", "crm.communications", 0, 7)
>>> bad = Incoming(b"{oops", None, "crm.communications", 0, 8)
>>> result = edge.communications([good, bad], now=now)
>>> [(a.record.text, a.record.language) for a in result.accepted], [d.reason for d in result.dead]
([('Where is my parcel? Mail me: [EMAIL]', 'en')], ['not_json'])
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, TypeVar, cast

from pydantic import BaseModel, ValidationError

from config.settings import Settings
from models.bundle import ModelBundle
from models.compiled import CompiledScorer, round4
from models.features import from_record
from schemas.events import (
    Channel,
    CommunicationEvent,
    DeadLetter,
    FeedbackEvent,
    LabelEvent,
    NeedCandidate,
    ScoredCommunication,
    SourcePosition,
    TextInfo,
)
from schemas.parsing import (
    EdgeLimits,
    InvalidEvent,
    check_not_future,
    decode_event,
    parse_event,
    validate_event,
)
from streams.language import detect_language, detect_languages
from streams.normalize import normalized, truncate_text
from streams.redaction import PII_TYPES, Redactor

RecordT = TypeVar("RecordT")

# What models read from a communication, and what the learner needs of each record.
SCORING_FIELDS = {"text", "language", "channel", "direction", "metadata"}
TRAINING_FIELDS: dict[str, set[str] | None] = {
    "communication": SCORING_FIELDS
    | {"event_id", "conversation_id", "need", "priority", "occurred_at"},
    "feedback": None,
    "label": None,
}


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
class Accepted(Generic[RecordT]):
    """A valid message and the record made from it (the message is kept for dead-lettering)."""

    message: Incoming
    record: RecordT


@dataclass(slots=True)
class BatchResult(Generic[RecordT]):
    accepted: list[Accepted[RecordT]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


def with_scores(record: ScoredCommunication, bundle: ModelBundle) -> ScoredCommunication:
    """The record with what the models say about it."""
    scores = bundle.score(record.model_dump(include=SCORING_FIELDS))
    need = scores.need
    labelled = record.need is not None
    return record.model_copy(
        update={
            "need": record.need if labelled else need.label,
            "need_source": "label" if labelled else ("model" if need.label else None),
            "need_confidence": round(need.confidence, 4) if need.label else None,
            "need_top3": [NeedCandidate(label=k, confidence=round(c, 4)) for k, c in need.top3],
            "need_terms": [term for term, _ in need.terms],
            "satisfaction": round(scores.satisfaction.score, 4),
            "sentiment": scores.satisfaction.sentiment,
            "urgency": round(scores.urgency.score, 4),
            "urgency_level": scores.urgency.level,
            "keywords": scores.keywords,
            "model_versions": scores.versions,
        }
    )


def score_batch(
    records: Sequence[ScoredCommunication],
    scorer: CompiledScorer,
    segments: Mapping[str, str] | None = None,
) -> list[ScoredCommunication]:
    """``[with_scores(r, bundle) for r in records]`` for the bundle ``scorer`` was compiled
    from, scored as one batch (:mod:`models.compiled`); ``segments`` gives each customer's
    segment (``customer_segment``), where known."""
    # What with_scores' model_dump(include=SCORING_FIELDS) gives from_record, uncopied.
    examples = [
        from_record(
            {
                "text": r.text,
                "language": r.language,
                "channel": r.channel,
                "direction": r.direction,
                "metadata": r.metadata,
            }
        )
        for r in records
    ]
    scores = scorer.score_columns(examples)
    # with_scores' roundings, for the whole batch (the top 3 are rounded already:
    # rounding them again changes nothing).
    confidences = round4(scores.need_confidence)
    satisfactions = round4(scores.satisfaction)
    urgencies = round4(scores.urgency)
    versions = dict(scores.versions)
    scored = []
    for i, (record, label, top3, terms) in enumerate(
        zip(records, scores.need, scores.need_top3, scores.need_term_names(), strict=True)
    ):
        labelled = record.need is not None
        update = {
            "need": record.need if labelled else label,
            "need_source": "label" if labelled else ("model" if label else None),
            "need_confidence": confidences[i] if label else None,
            "need_top3": [_candidate(k, c) for k, c in top3],
            "need_terms": terms,
            "satisfaction": satisfactions[i],
            "sentiment": scores.sentiment[i],
            "urgency": urgencies[i],
            "urgency_level": scores.urgency_level[i],
            "keywords": scores.keywords[i],
            "model_versions": dict(versions),
        }
        if segments is not None and (segment := segments.get(record.customer_id)) is not None:
            update["customer_segment"] = segment
        scored.append(record.model_copy(update=update))
    return scored


#: Need candidates kept for reuse: a label and a confidence rounded to four decimals,
#: a few hundred thousand at most, and records share the commonest.
_CANDIDATES_CACHED = 65_536


@functools.lru_cache(maxsize=_CANDIDATES_CACHED)
def _candidate(label: str, confidence: float) -> NeedCandidate:
    """``NeedCandidate(label=label, confidence=confidence)``, one (frozen) instance shared
    by the records that have it: validating a new one cost three times as much, for each of
    the three candidates of every record scored."""
    return NeedCandidate(label=label, confidence=confidence)


def training_example(kind: str, record: BaseModel) -> dict[str, Any]:
    """What the learner receives: the cleaned record, never the raw one.

    A scored record's ``need`` is the model's guess unless a person gave it
    (``need_source``): only a person's label is sent as one.
    """
    fields = TRAINING_FIELDS.get(kind)
    dumped = record.model_dump(mode="json", include=fields)
    if getattr(record, "need_source", None) == "model":
        dumped["need"] = None
    return {"type": kind, "record": dumped}


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


@dataclass(frozen=True)
class EdgeConfig:
    """The edge's rules, from :class:`config.settings.Settings`."""

    limits: EdgeLimits = field(default_factory=EdgeLimits)
    text_budget_chars: int = 8000
    pii_types: tuple[str, ...] = PII_TYPES

    @classmethod
    def from_settings(cls, settings: Settings) -> EdgeConfig:
        return cls(
            limits=EdgeLimits(
                text_max_bytes=settings.text_max_bytes,
                max_future=timedelta(hours=settings.max_future_hours),
            ),
            text_budget_chars=settings.text_budget_chars,
            pii_types=tuple(t.strip().upper() for t in settings.pii_types.split(",") if t.strip()),
        )


class Edge:
    """Checks, cleans and makes safe every event before any model or index sees it."""

    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        self.redactor = Redactor(config.pii_types)

    def clean_text(self, text: str, channel: str) -> tuple[str, TextInfo]:
        """Normalize, redact and cut a text; say what was done."""
        kept, original_chars, truncated, pii = self._clean(text, channel)
        return kept, TextInfo(original_chars=original_chars, truncated=truncated, pii=pii)

    def _clean(self, text: str, channel: str) -> tuple[str, int, bool, dict[str, int]]:
        """:meth:`clean_text` as plain values: the text, its length before the cut, whether
        it was cut, and the PII counts."""
        redaction = self.redactor.redact(normalized(text, channel=channel))
        kept, truncated = truncate_text(redaction.text, self.config.text_budget_chars)
        return kept, len(redaction.text), truncated, redaction.counts

    def communications(
        self, messages: Sequence[Incoming], *, now: datetime
    ) -> BatchResult[ScoredCommunication]:
        """Validate and clean a batch from ``crm.communications``.

        The record is validated once, as a :class:`ScoredCommunication` (which holds
        the :class:`CommunicationEvent` contract), instead of as an event and then again
        as a record. So that the outcome stays the one of :func:`parse_event` followed
        by cleaning, the text is cleaned ahead of the contract only when the fields it
        needs are already what the contract accepts; a record that then fails is
        checked against the contract itself for the dead letter's message.
        """
        limits = self.config.limits

        # Until its language is known, a message is kept as plain values (its fields and
        # what cleaning did), not yet as models: fewer objects live through the batch, and
        # fewer reach the garbage collector's older generations.
        def clean(message: Incoming) -> tuple[dict[str, Any], tuple[int, bool, dict[str, int]]]:
            """The record's fields but for the language (still the producer's hint), source
            and text info; what cleaning did to the text."""
            value = decode_event(message.value, CommunicationEvent, limits=limits)
            if _cleanable(value):
                try:
                    text, original_chars, truncated, pii = self._clean(
                        value["text"], value["channel"]
                    )
                    subject = value.get("subject")
                    subject = self._clean(subject, "other")[0] if subject else subject
                except Exception:  # a bug: then as before, the contract first (it may say why)
                    pass
                else:
                    fields = _contract_fields(value)
                    fields.update(text=text, subject=subject, processed_at=now)
                    return fields, (original_chars, truncated, pii)
            event = validate_event(value, CommunicationEvent)
            check_not_future(event, now=now, limits=limits)
            text, original_chars, truncated, pii = self._clean(event.text, event.channel.value)
            subject = self._clean(event.subject, "other")[0] if event.subject else event.subject
            # The event's validated values as they are: model_dump would copy them only for
            # the record's validation to copy them again.
            fields = {**event.__dict__, "text": text, "subject": subject, "processed_at": now}
            return fields, (original_chars, truncated, pii)

        def record(
            message: Incoming,
            cleaned: tuple[dict[str, Any], tuple[int, bool, dict[str, int]]],
            detected: str,
        ) -> ScoredCommunication:
            fields, (original_chars, truncated, pii) = cleaned
            fields["source"] = message.position
            fields["text_info"] = TextInfo(
                original_chars=original_chars, truncated=truncated, pii=pii
            )
            # The producer's hint only counts where the text itself is too thin to tell.
            hint = fields["language"]
            fields["language"] = hint if detected == "und" and hint else detected
            try:
                # What model_validate calls, without its keyword arguments (see parse_event).
                validated = ScoredCommunication.__pydantic_validator__.validate_python(fields)
            except ValidationError:
                # The contract's own complaint (the message is decoded again rather than
                # kept for the rare record that fails).
                value = decode_event(message.value, CommunicationEvent, limits=limits)
                validate_event(value, CommunicationEvent)
                raise
            scored = cast(ScoredCommunication, validated)
            check_not_future(scored, now=now, limits=limits)  # again, if checked in clean
            return scored

        return _in_two_steps(messages, now, clean, lambda cleaned: cleaned[0]["text"], record)

    def feedback(
        self, messages: Sequence[Incoming], *, now: datetime
    ) -> BatchResult[FeedbackEvent]:
        """Validate a batch from ``crm.feedback``; comments are cleaned like texts."""
        limits = self.config.limits

        def clean(message: Incoming) -> tuple[FeedbackEvent, str | None]:
            event = parse_event(message.value, FeedbackEvent, now=now, limits=limits)
            return event, (self._clean(event.comment, "other")[0] if event.comment else None)

        def record(
            message: Incoming, cleaned: tuple[FeedbackEvent, str | None], detected: str
        ) -> FeedbackEvent:
            event, comment = cleaned
            if comment is None:
                return event
            return event.model_copy(update={"comment": comment, "language": detected})

        return _in_two_steps(messages, now, clean, lambda cleaned: cleaned[1], record)

    def labels(self, messages: Sequence[Incoming], *, now: datetime) -> BatchResult[LabelEvent]:
        """Validate a batch from ``crm.labels``."""
        limits = self.config.limits
        return self._each(
            messages, now, lambda raw: parse_event(raw.value, LabelEvent, now=now, limits=limits)
        )

    @staticmethod
    def _each(
        messages: Sequence[Incoming], now: datetime, make: Callable[[Incoming], RecordT]
    ) -> BatchResult[RecordT]:
        result: BatchResult[RecordT] = BatchResult()
        for message in messages:
            try:
                record = make(message)
            except InvalidEvent as invalid:
                result.dead.append(dead_letter(message, invalid.reason, invalid.message, now=now))
            except Exception as error:  # a bug must cost one message, never the worker
                result.dead.append(dead_letter(message, "processing_error", repr(error), now=now))
            else:
                result.accepted.append(Accepted(message, record))
        return result


CleanedT = TypeVar("CleanedT")


def _in_two_steps(
    messages: Sequence[Incoming],
    now: datetime,
    clean: Callable[[Incoming], CleanedT],
    text_of: Callable[[CleanedT], str | None],
    make: Callable[[Incoming, CleanedT, str], RecordT],
) -> BatchResult[RecordT]:
    """:meth:`Edge._each` with the languages of the whole batch detected in one call.

    ``clean`` checks and cleans a message, ``text_of`` says which of its texts has a
    language (``None``: none), ``make`` builds the record given that language. The
    result is the one a message-by-message run gives: a message that fails in either
    step becomes its dead letter at its place, and the others are kept in order.
    """
    outcomes: list[CleanedT | DeadLetter] = []  # one for each message
    texts: list[str] = []
    for message in messages:
        try:
            cleaned = clean(message)
        except InvalidEvent as invalid:
            outcomes.append(dead_letter(message, invalid.reason, invalid.message, now=now))
        except Exception as error:  # a bug must cost one message, never the worker
            outcomes.append(dead_letter(message, "processing_error", repr(error), now=now))
        else:
            outcomes.append(cleaned)
            text = text_of(cleaned)
            if text is not None:
                texts.append(text)
    languages: Iterator[str | None]
    try:
        languages = iter(detect_languages(texts))
    except Exception:  # then each text alone, so that a bug costs its message only
        languages = iter([None] * len(texts))
    result: BatchResult[RecordT] = BatchResult()
    for message, outcome in zip(messages, outcomes, strict=True):
        if isinstance(outcome, DeadLetter):
            result.dead.append(outcome)
            continue
        try:
            text = text_of(outcome)
            detected = "und" if text is None else next(languages) or detect_language(text)
            record = make(message, outcome, detected)
        except InvalidEvent as invalid:  # a contract checked only now
            result.dead.append(dead_letter(message, invalid.reason, invalid.message, now=now))
        except Exception as error:
            result.dead.append(dead_letter(message, "processing_error", repr(error), now=now))
        else:
            result.accepted.append(Accepted(message, record))
    return result


_CHANNELS = frozenset(channel.value for channel in Channel)
_HINT = CommunicationEvent.model_fields["language"]
_HINT_MAX_CHARS = next(m.max_length for m in _HINT.metadata if hasattr(m, "max_length"))


def _cleanable(value: dict[str, Any]) -> bool:
    """Whether the contract accepts a message's text, channel, subject and language hint as
    they are (plain strings of the JSON, a known channel, a short enough hint), so that
    cleaning them before the contract is checked changes nothing."""
    text, channel = value.get("text"), value.get("channel")
    subject, hint = value.get("subject"), value.get("language")
    return (
        type(text) is str
        and type(channel) is str
        and channel in _CHANNELS
        and (subject is None or type(subject) is str)
        and (hint is None or (type(hint) is str and len(hint) <= _HINT_MAX_CHARS))
    )


def _contract_fields(value: dict[str, Any]) -> dict[str, Any]:
    """The message's values of the :class:`CommunicationEvent` fields, defaults for the
    optional ones it leaves out (as the event's model_dump would have them: every field
    is set), nothing for the required ones it lacks (validation will say so)."""
    fields: dict[str, Any] = {}
    for name, info in _CONTRACT_FIELDS:
        if name in value:
            fields[name] = value[name]
        elif not info.is_required():
            fields[name] = info.get_default(call_default_factory=True)
    return fields


_CONTRACT_FIELDS = tuple(CommunicationEvent.model_fields.items())
