"""Similar earlier communications, and a reply that worked for one of them.

``crmstream similar EVENT_ID`` answers two questions an agent has in front of a
new message: have customers written this before, and what answer did they get
when it went well?

- **Similar communications**: Elasticsearch ``more_like_this`` over the words of
  the text (``text_terms``: the shared tokenizer's words, jieba for Chinese, so
  both languages compare words, not characters), restricted to earlier
  communications in the same language and direction. Each comes with its need and
  predicted satisfaction.
- **Suggested reply**: among the :data:`REPLY_CANDIDATES` most similar, the most
  similar one (of the same need first, when the need is known) whose conversation
  **ended well** — rated at least :data:`ENDED_WELL` on average in ``crm-feedback``
  (0 worst, 1 best), or, when nobody rated it, the customer's last message in it
  predicted at least that satisfied — and that an agent answered afterwards. The
  reply is the agent's first message after it, as indexed: redacted like every
  indexed text.

It runs on demand, against the index: nothing of it is on the stream's path.

The pure parts build the queries (:func:`similar_query`,
:func:`conversations_query`, :func:`ratings_query`) and choose the reply
(:func:`choose_reply`); :func:`find_similar` makes the calls;
:func:`similarity_report` measures on labelled data how often the similar ones
share the label.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from elasticsearch import Elasticsearch
from elasticsearch.helpers import bulk
from rich.console import Console
from rich.table import Table

from config.settings import Settings
from crmstream.errors import CrmstreamError, DatasetError
from crmstream.rows import UnreadableLine, parse_time, read_rows
from models.tokenize import tokenize
from streams.language import detect_languages
from streams.pipeline import Edge, EdgeConfig
from streams.search_index import (
    COMMUNICATIONS_ALIAS,
    communications_index,
    create_client,
    delete_namespace_indices,
    install_templates,
)

__all__ = [
    "ENDED_WELL",
    "REPLY_CANDIDATES",
    "Communication",
    "CommunicationNotFound",
    "LabelledText",
    "ReasonFigures",
    "SimilarResult",
    "SuggestedReply",
    "choose_reply",
    "conversations_query",
    "evaluate_similarity",
    "find_similar",
    "labelled_documents",
    "ratings_query",
    "render_json",
    "render_table",
    "similar_query",
    "similarity_report",
]

#: How many similar messages a reply may come from (more than are shown: the few most
#: similar often include no conversation that ended well).
REPLY_CANDIDATES = 20

#: A conversation rated (or, unrated, last predicted) at least this satisfied ended well:
#: the "positive" threshold of :func:`models.satisfaction.sentiment_of_score`.
ENDED_WELL = 0.7

_SOURCE_FIELDS = [
    "event_id",
    "occurred_at",
    "conversation_id",
    "direction",
    "channel",
    "language",
    "need",
    "satisfaction",
    "text",
]


class CommunicationNotFound(CrmstreamError, LookupError):
    """No indexed communication has this event id."""


@dataclass(frozen=True, slots=True)
class Communication:
    """An indexed communication, as far as similarity and replies need it."""

    event_id: str
    index: str
    occurred_at: str
    text: str
    direction: str | None = None
    channel: str | None = None
    language: str | None = None
    conversation_id: str | None = None
    need: str | None = None
    satisfaction: float | None = None
    score: float | None = None

    @classmethod
    def from_hit(cls, hit: Mapping[str, Any]) -> Communication:
        source = hit.get("_source") or {}
        return cls(
            event_id=str(hit["_id"]),
            index=str(hit["_index"]),
            occurred_at=str(source.get("occurred_at", "")),
            text=str(source.get("text", "")),
            direction=source.get("direction"),
            channel=source.get("channel"),
            language=source.get("language"),
            conversation_id=source.get("conversation_id"),
            need=source.get("need"),
            satisfaction=source.get("satisfaction"),
            score=hit.get("_score"),
        )


@dataclass(frozen=True, slots=True)
class SuggestedReply:
    """An agent's reply to a similar message, in a conversation that ended well."""

    text: str
    reply_event_id: str
    conversation_id: str
    answered_event_id: str
    need: str | None
    rating: float | None
    predicted_satisfaction: float | None


@dataclass(slots=True)
class SimilarResult:
    communication: Communication
    similar: list[Communication] = field(default_factory=list)
    reply: SuggestedReply | None = None


# -- queries (pure) -------------------------------------------------------------------


def similar_query(source: Communication, *, size: int = 5) -> dict[str, Any]:
    """The search for earlier communications like ``source`` (same language and direction).

    ``min_term_freq`` is 1 because messages are short (a word rarely repeats);
    ``min_doc_freq`` 2 leaves out words no other message has.

    >>> c = Communication("e9", "ns-crm-communications-2026.01", "2026-01-05T10:00:00Z",
    ...                   "refund please", direction="inbound", language="en")
    >>> body = similar_query(c, size=3)
    >>> body["size"], body["query"]["bool"]["must"][0]["more_like_this"]["like"]
    (3, [{'_index': 'ns-crm-communications-2026.01', '_id': 'e9'}])
    >>> body["query"]["bool"]["filter"]
    [{'range': {'occurred_at': {'lt': '2026-01-05T10:00:00Z'}}}, {'term': {'language': 'en'}}, {'term': {'direction': 'inbound'}}]
    """  # noqa: E501
    conditions: list[dict[str, Any]] = [{"range": {"occurred_at": {"lt": source.occurred_at}}}]
    if source.language:
        conditions.append({"term": {"language": source.language}})
    if source.direction:
        conditions.append({"term": {"direction": source.direction}})
    return {
        "size": size,
        "source": {"includes": _SOURCE_FIELDS},
        "query": {
            "bool": {
                "must": [
                    {
                        "more_like_this": {
                            "fields": ["text_terms"],
                            "like": [{"_index": source.index, "_id": source.event_id}],
                            "min_term_freq": 1,
                            "min_doc_freq": 2,
                            "max_query_terms": 25,
                        }
                    }
                ],
                "filter": conditions,
                "must_not": [{"ids": {"values": [source.event_id]}}],
            }
        },
    }


def conversations_query(conversation_ids: Iterable[str], *, size: int = 500) -> dict[str, Any]:
    """Every communication of these conversations, oldest first.

    >>> conversations_query(["c1"])["query"]
    {'terms': {'conversation_id': ['c1']}}
    """
    return {
        "size": size,
        "source": {"includes": _SOURCE_FIELDS},
        "query": {"terms": {"conversation_id": sorted(set(conversation_ids))}},
        "sort": [{"occurred_at": {"order": "asc"}}, {"event_id": {"order": "asc"}}],
    }


def ratings_query(conversation_ids: Iterable[str]) -> dict[str, Any]:
    """The mean rating (0 worst, 1 best) of each of these conversations.

    >>> ratings_query(["c1"])["aggs"]["by_conversation"]["aggs"]
    {'rating': {'avg': {'field': 'rating'}}}
    """
    ids = sorted(set(conversation_ids))
    return {
        "size": 0,
        "query": {"terms": {"conversation_id": ids}},
        "aggs": {
            "by_conversation": {
                "terms": {"field": "conversation_id", "size": max(1, len(ids))},
                "aggs": {"rating": {"avg": {"field": "rating"}}},
            }
        },
    }


# -- choosing the reply (pure) ----------------------------------------------------------


def _ended_well(
    conversation: Sequence[Communication], rating: float | None
) -> tuple[bool, float | None]:
    """Whether the conversation ended well, and the last predicted satisfaction in it."""
    inbound = [c for c in conversation if c.direction == "inbound" and c.satisfaction is not None]
    predicted = inbound[-1].satisfaction if inbound else None
    if rating is not None:
        return rating >= ENDED_WELL, predicted
    return predicted is not None and predicted >= ENDED_WELL, predicted


def choose_reply(
    asked: Communication,
    similar: Sequence[Communication],
    conversations: Mapping[str, Sequence[Communication]],
    ratings: Mapping[str, float],
) -> SuggestedReply | None:
    """The reply to suggest: from the most similar message whose conversation ended well.

    Messages of the asked one's need come first (when its need is known), then the
    rest, each group in order of similarity. ``conversations`` holds each
    conversation's communications oldest first; ``ratings`` their mean rating.

    >>> hi = Communication("q", "i", "2026-01-05T10:00:00Z", "refund?", "inbound", need="refund")
    >>> a = Communication("a", "i", "2026-01-01T10:00:00Z", "refund!", "inbound",
    ...                   conversation_id="c1", need="refund")
    >>> r = Communication("r", "i", "2026-01-01T10:05:00Z", "Done, refunded.", "outbound",
    ...                   conversation_id="c1")
    >>> choose_reply(hi, [a], {"c1": [a, r]}, {"c1": 0.9}).text
    'Done, refunded.'
    >>> choose_reply(hi, [a], {"c1": [a, r]}, {"c1": 0.2}) is None  # rated badly
    True
    """
    ranked = sorted(
        enumerate(similar),
        key=lambda item: (asked.need is not None and item[1].need != asked.need, item[0]),
    )
    for _, candidate in ranked:
        conversation_id = candidate.conversation_id
        if conversation_id is None:
            continue
        conversation = conversations.get(conversation_id, ())
        rating = ratings.get(conversation_id)
        well, predicted = _ended_well(conversation, rating)
        if not well:
            continue
        reply = next(
            (
                c
                for c in conversation
                if c.direction == "outbound" and c.occurred_at > candidate.occurred_at
            ),
            None,
        )
        if reply is None:
            continue
        return SuggestedReply(
            text=reply.text,
            reply_event_id=reply.event_id,
            conversation_id=conversation_id,
            answered_event_id=candidate.event_id,
            need=candidate.need,
            rating=rating,
            predicted_satisfaction=predicted,
        )
    return None


# -- calls ------------------------------------------------------------------------------


def get_communication(client: Elasticsearch, alias: str, event_id: str) -> Communication:
    """The indexed communication with this event id (any month's index behind ``alias``)."""
    response: Any = client.search(
        index=alias,
        size=1,
        source={"includes": _SOURCE_FIELDS},
        query={"ids": {"values": [event_id]}},
    )
    hits = response["hits"]["hits"]
    if not hits:
        raise CommunicationNotFound(f"no communication {event_id!r} in {alias}")
    return Communication.from_hit(hits[0])


def find_similar(
    client: Elasticsearch,
    communications_alias: str,
    feedback_alias: str | None,
    event_id: str,
    *,
    size: int = 5,
) -> SimilarResult:
    """The ``size`` earlier communications most like ``event_id``, and a reply to suggest
    (from the :data:`REPLY_CANDIDATES` most similar).

    ``feedback_alias`` is where ratings are (``None``: judge by predicted satisfaction
    only). Raises :class:`CommunicationNotFound` for an unknown event id, and the
    client's errors as they are.
    """
    asked = get_communication(client, communications_alias, event_id)
    wanted = max(size, REPLY_CANDIDATES)
    response: Any = client.search(index=communications_alias, **similar_query(asked, size=wanted))
    candidates = [Communication.from_hit(hit) for hit in response["hits"]["hits"]]
    result = SimilarResult(asked, candidates[:size])
    conversation_ids = {c.conversation_id for c in candidates if c.conversation_id}
    if not conversation_ids:
        return result
    response = client.search(index=communications_alias, **conversations_query(conversation_ids))
    conversations: dict[str, list[Communication]] = defaultdict(list)
    for hit in response["hits"]["hits"]:
        communication = Communication.from_hit(hit)
        if communication.conversation_id:
            conversations[communication.conversation_id].append(communication)
    ratings: dict[str, float] = {}
    if feedback_alias is not None and client.indices.exists_alias(name=feedback_alias):
        response = client.search(index=feedback_alias, **ratings_query(conversation_ids))
        for bucket in response["aggregations"]["by_conversation"]["buckets"]:
            if bucket["rating"]["value"] is not None:
                ratings[str(bucket["key"])] = float(bucket["rating"]["value"])
    result.reply = choose_reply(asked, candidates, conversations, ratings)
    return result


# -- measuring it -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelledText:
    """One row of labelled data, cleaned as the worker cleans texts (PII redacted)."""

    event_id: str
    occurred_at: str
    text: str
    label: str


def labelled_documents(
    texts: Sequence[LabelledText], languages: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    """Each text as the communications index holds an inbound message: its id and document.

    >>> docs = labelled_documents(
    ...     [LabelledText("r1", "2015-02-24T11:35:00-08:00", "Lost my bag again", "Lost Luggage")],
    ...     ["en"])
    >>> docs[0][0], docs[0][1]["text_terms"], docs[0][1]["direction"]
    ('r1', 'lost bag again', 'inbound')
    """
    return [
        (
            t.event_id,
            {
                "event_id": t.event_id,
                "occurred_at": t.occurred_at,
                "direction": "inbound",
                "language": language,
                "text": t.text,
                "text_terms": " ".join(tokenize(t.text, language)),
            },
        )
        for t, language in zip(texts, languages, strict=True)
    ]


@dataclass(frozen=True, slots=True)
class ReasonFigures:
    """How often the top similar messages of one label's messages share that label."""

    label: str
    asked: int
    shared: float
    chance: float

    @property
    def lift(self) -> float:
        return self.shared / self.chance if self.chance else float("nan")


def similarity_report(
    client: Elasticsearch,
    alias: str,
    labels: Mapping[str, str],
    *,
    top: int = 5,
    sample: int | None = None,
    seed: int = 0,
) -> list[ReasonFigures]:
    """Per label: the share of each message's ``top`` similar earlier messages with its label,
    against chance (the label's share of all labelled messages).

    ``labels`` maps indexed event ids to their label; ``sample`` asks for that many
    of them at random (``seed``) instead of all. Messages with no similar earlier one
    (the first ones, or without a shared word) are left out.
    """
    asked_ids = sorted(labels)
    if sample is not None and sample < len(asked_ids):
        asked_ids = random.Random(seed).sample(asked_ids, sample)
    chance = Counter(labels.values())
    total = sum(chance.values())
    shared: dict[str, list[float]] = defaultdict(list)
    for event_id in asked_ids:
        asked = get_communication(client, alias, event_id)
        response: Any = client.search(index=alias, **similar_query(asked, size=top))
        found = [labels.get(str(hit["_id"])) for hit in response["hits"]["hits"]]
        if found:
            label = labels[event_id]
            shared[label].append(sum(f == label for f in found) / len(found))
    return [
        ReasonFigures(label, len(rates), sum(rates) / len(rates), chance[label] / total)
        for label, rates in sorted(shared.items())
    ]


def evaluate_similarity(
    settings: Settings,
    path: Path,
    *,
    text_col: str,
    label_col: str,
    time_col: str | None = None,
    timezone: str = "UTC",
    top: int = 5,
    sample: int | None = 1000,
    seed: int = 0,
) -> list[ReasonFigures]:
    """:func:`similarity_report` on a labelled file (CSV or JSON Lines), in a scratch index.

    Rows with a label are cleaned as the worker cleans texts, indexed into a
    namespace of their own with the communications template, measured, and the
    scratch indices and templates are deleted afterwards. Without ``time_col`` the
    file's order is the time order.
    """
    edge = Edge(EdgeConfig())
    zone = ZoneInfo(timezone)
    start = datetime(2000, 1, 1, tzinfo=UTC)
    texts: list[LabelledText] = []
    for number, row in enumerate(read_rows(path), 1):
        if isinstance(row, UnreadableLine):
            continue  # no label to compare: left out as a row without one
        label, text = str(row.get(label_col) or "").strip(), str(row.get(text_col) or "")
        if not label or not text.strip():
            continue
        if time_col is not None:
            moment = parse_time(str(row[time_col]), zone)
            if moment is None:
                raise DatasetError(f"row {number}: cannot read {row[time_col]!r} as a time")
            at = moment
        else:
            at = start + timedelta(seconds=number)
        cleaned = edge.clean_text(text, "other")[0]
        texts.append(LabelledText(f"row-{number}", at.isoformat(), cleaned, label))
    if not texts:
        raise DatasetError(f"no rows of {path} have both {text_col!r} and {label_col!r}")
    scratch = settings.model_copy(update={"namespace": f"similar-eval-{uuid.uuid4().hex[:8]}"})
    alias = scratch.index_name(COMMUNICATIONS_ALIAS)
    client = create_client(scratch, request_timeout=120)
    try:
        install_templates(client, scratch)
        documents = labelled_documents(texts, detect_languages([t.text for t in texts]))
        actions = (
            {
                "_index": communications_index(scratch, datetime.fromisoformat(doc["occurred_at"])),
                "_id": event_id,
                "_source": doc,
            }
            for event_id, doc in documents
        )
        bulk(client, actions, chunk_size=1000, refresh="wait_for")
        labels = {t.event_id: t.label for t in texts}
        return similarity_report(client, alias, labels, top=top, sample=sample, seed=seed)
    finally:
        try:
            delete_namespace_indices(client, scratch)
        finally:
            client.close()


# -- rendering --------------------------------------------------------------------------


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _snippet(text: str, chars: int = 140) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= chars else flat[: chars - 1] + "…"


def render_table(result: SimilarResult, console: Console) -> None:
    """The message asked about, its similar ones, and the suggested reply."""
    asked = result.communication
    console.print(
        f"[bold]{asked.event_id}[/] ({asked.need or 'need unknown'}): {_snippet(asked.text)}"
    )
    if not result.similar:
        console.print("no similar earlier communications")
        return
    table = Table("time (UTC)", "need", "satisf.", "similarity", "text")
    table.columns[-1].ratio = 1
    for c in result.similar:
        table.add_row(
            c.occurred_at[:16].replace("T", " "),
            c.need or "-",
            _number(c.satisfaction),
            _number(c.score),
            _snippet(c.text),
        )
    console.print(table)
    reply = result.reply
    if reply is None:
        console.print("no suggested reply: no similar conversation that ended well was answered")
        return
    why = (
        f"rated {reply.rating:.2f}"
        if reply.rating is not None
        else f"last predicted satisfaction {_number(reply.predicted_satisfaction)}"
    )
    console.print(f"[bold]suggested reply[/] (conversation {reply.conversation_id}, {why}):")
    console.print(reply.text)


def render_report(figures: Sequence[ReasonFigures], console: Console, *, top: int) -> None:
    """Per label: messages asked, share of their top similar ones with the same label, chance."""
    table = Table("label", "messages", f"top {top} sharing the label", "chance", "lift")
    for f in figures:
        table.add_row(f.label, str(f.asked), f"{f.shared:.3f}", f"{f.chance:.3f}", f"{f.lift:.1f}x")
    console.print(table)


def render_json(result: SimilarResult) -> str:
    """The result as JSON (``communication``, ``similar``, ``reply``), Chinese as is.

    >>> print(render_json(SimilarResult(Communication("e1", "i", "t", "x"))))  # doctest: +ELLIPSIS
    {"communication": {"event_id": "e1", ..., "similar": [], "reply": null}
    """
    document = {
        "communication": asdict(result.communication),
        "similar": [asdict(c) for c in result.similar],
        "reply": asdict(result.reply) if result.reply else None,
    }
    return json.dumps(document, ensure_ascii=False)
