"""Where processed batches go: Elasticsearch, the scored topic and the dead-letter topic.

:meth:`CommunicationSink.deliver` returns only when every record of the batch is
durably somewhere (indexed and published, or dead-lettered), so the agent may
acknowledge the batch afterwards and Faust commits offsets only for work done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import faust
import orjson
from aiokafka.errors import KafkaError
from elasticsearch import AsyncElasticsearch
from faust.exceptions import ProducerSendError
from pydantic import BaseModel

from config.settings import Settings
from models.tokenize import tokenize
from schemas.events import Alert, DeadLetter, FeedbackEvent, ScoredCommunication
from streams import metrics
from streams.forget import Forget, audit_document
from streams.kafka import partition_for, until_sent
from streams.pipeline import Accepted, BatchResult, dead_letter
from streams.redaction import Redactor
from streams.search_index import (
    COMMUNICATIONS_ALIAS,
    IndexRequest,
    alerts_index,
    audit_index,
    bulk_index,
    communications_index,
    deadletter_index,
    feedback_index,
)
from streams.topics import ALERTS, DEADLETTER, SCORED
from streams.transactions import PartitionOutput, TransactionalOutput

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A record to publish: key and JSON value, both as bytes (and the partition, if chosen)."""

    key: bytes | None
    value: bytes
    partition: int | None = None


def packed(records: Iterable[tuple[bytes, bytes]], partitions: int) -> list[Outgoing]:
    """Keyed JSON records packed into one JSON-array message per partition their keys hash to.

    A batch's internal records (alert deltas, conversation turns) then cost a few
    Kafka messages instead of one each, and every record still reaches the partition
    (and so the table partition) its key owns. :func:`unpacked` reads them back.

    >>> [(m.partition, m.value) for m in packed([(b"k", b'{"a":1}'), (b"k", b'{"a":2}')], 6)]
    [(2, b'[{"a":1},{"a":2}]')]
    """
    by_partition: dict[int, list[bytes]] = {}
    for key, value in records:
        by_partition.setdefault(partition_for(key, partitions), []).append(value)
    return [
        Outgoing(None, b"[" + b",".join(values) + b"]", partition)
        for partition, values in sorted(by_partition.items())
    ]


def unpacked(value: bytes | None) -> list[Any]:
    """The records of a :func:`packed` message (a single JSON object counts as one record).

    >>> unpacked(b'[{"a":1},{"a":2}]'), unpacked(b'{"a":1}')
    ([{'a': 1}, {'a': 2}], [{'a': 1}])
    >>> unpacked(b"[oops")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: not a JSON record or array of records: unexpected character...
    """
    try:
        data = orjson.loads(value or b"")
    except orjson.JSONDecodeError as error:
        raise ValueError(f"not a JSON record or array of records: {error}") from error
    return data if isinstance(data, list) else [data]


def to_json(record: BaseModel, *, exclude_none: bool = True) -> bytes:
    return orjson.dumps(record.model_dump(mode="json", exclude_none=exclude_none))


class KafkaPublisher:
    """Publishes records and waits until the broker acknowledged all of them."""

    def __init__(self, app: faust.App) -> None:
        self.app = app

    async def publish(self, topic: str, records: Sequence[Outgoing]) -> None:
        if not records:
            return
        async for attempt in until_sent(log, (KafkaError, ProducerSendError)):
            with attempt:
                producer = self.app.producer
                futures = [
                    await producer.send(topic, r.key, r.value, r.partition, None, None)
                    for r in records
                ]
                await asyncio.gather(*futures)
        metrics.EVENTS_OUT.labels(topic).inc(len(records))


def searchable_dead_letter(letter: DeadLetter, redactor: Redactor) -> dict[str, Any]:
    """A dead letter as indexed: the original only redacted, and only when it is text.

    The exact bytes stay on the Kafka topic; the index is for people to search.
    """
    document = letter.model_dump(mode="json")
    if letter.original_encoding == "utf-8" and letter.original is not None:
        document["original"] = redactor.redact(letter.original).text
    else:
        document["original"] = None
    if letter.key is not None:
        document["key"] = redactor.redact(letter.key).text
    return document


class DeadLetterSink:
    """Publishes dead letters on ``crm.deadletter``; indexes them redacted in ``crm-deadletter``."""

    def __init__(
        self,
        settings: Settings,
        publisher: KafkaPublisher,
        es: AsyncElasticsearch,
        redactor: Redactor,
    ) -> None:
        self.publisher = publisher
        self.es = es
        self.redactor = redactor
        self.topic = settings.topic_name(DEADLETTER)
        self.index_name = deadletter_index(settings)

    def records(self, dead: Sequence[DeadLetter]) -> list[Outgoing]:
        """The dead letters as published: the whole letter, original bytes included."""
        return [Outgoing(None, to_json(d, exclude_none=False)) for d in dead]

    async def deliver(self, dead: Sequence[DeadLetter]) -> None:
        if not dead:
            return
        await self.publisher.publish(self.topic, self.records(dead))
        await self.index(dead)

    async def index(self, dead: Sequence[DeadLetter]) -> None:
        """Index the letters (redacted) and count them; publishing is the caller's."""
        if not dead:
            return
        requests = [
            IndexRequest(
                self.index_name,
                f"{d.source.topic}-{d.source.partition}-{d.source.offset}",
                searchable_dead_letter(d, self.redactor),
            )
            for d in dead
        ]
        for rejection in await bulk_index(self.es, requests):
            # Nowhere further to send it: the letter is safe on the topic; say so loudly.
            log.error("dead letter %s not indexed: %s", rejection.request.id, rejection.reason)
        for letter in dead:
            metrics.DEAD_LETTERS.labels(letter.reason).inc()
        log.warning("dead-lettered %d messages (%s)", len(dead), sorted({d.reason for d in dead}))


def communication_request(
    settings: Settings, record: ScoredCommunication
) -> tuple[IndexRequest, bytes]:
    """The index request for a scored communication, and the record's own JSON.

    The index is the event's own month, the id its ``event_id``, the document the
    record's JSON plus the segmented ``text_terms``. One dump serves both: the
    scored record's JSON for the scored topic, then the document for the index.
    The benchmark's bulk stage indexes exactly these requests.
    """
    document = record.model_dump(mode="json", exclude_none=True)
    scored_json = orjson.dumps(document)
    # Words for search (jieba for Chinese): this distribution has no CJK analyzer.
    document["text_terms"] = " ".join(tokenize(record.text, record.language))
    index = communications_index(settings, record.occurred_at)
    return IndexRequest(index, record.event_id, document), scored_json


class CommunicationSink:
    """Delivers a processed batch of communications: index, scored topic, dead letters."""

    def __init__(
        self,
        settings: Settings,
        es: AsyncElasticsearch,
        publisher: KafkaPublisher,
        redactor: Redactor,
        transactions: TransactionalOutput | None = None,
    ) -> None:
        self.settings = settings
        self.es = es
        self.publisher = publisher
        self.scored_topic = settings.topic_name(SCORED)
        self.dead_letters = DeadLetterSink(settings, publisher, es, redactor)
        self.transactions = transactions

    async def deliver(
        self,
        result: BatchResult[ScoredCommunication],
        *,
        now: datetime,
        next_offsets: Mapping[int, int] | None = None,
    ) -> None:
        """Index the batch, then publish its scored records and dead letters: with
        ``transactions``, in one transaction per input partition with the partition's
        next offset (``next_offsets``: partition → its last offset in the batch + 1)."""
        # One request per (index, id): a duplicate inside the batch is written once.
        requests: dict[tuple[str, str], tuple[IndexRequest, Accepted[ScoredCommunication], bytes]]
        requests = {}
        for accepted in result.accepted:
            request, scored_json = communication_request(self.settings, accepted.record)
            requests[request.index, request.id] = (request, accepted, scored_json)
        rejections = await bulk_index(self.es, [request for request, _, _ in requests.values()])
        rejected = {(r.request.index, r.request.id): r for r in rejections}
        dead = list(result.dead)
        for key, rejection in rejected.items():
            reason = f"{rejection.status} {rejection.reason}"
            dead.append(
                dead_letter(requests[key][1].message, "elasticsearch_rejected", reason, now=now)
            )
        kept = [
            Outgoing(accepted.record.customer_id.encode(), scored_json)
            for key, (_, accepted, scored_json) in requests.items()
            if key not in rejected
        ]
        metrics.DOCUMENTS_INDEXED.labels(COMMUNICATIONS_ALIAS).inc(len(kept))
        if self.transactions is None:
            await self.publisher.publish(self.scored_topic, kept)
            await self.dead_letters.deliver(dead)
            return
        if next_offsets is None:
            raise ValueError("a transactional delivery needs the batch's next offsets")
        await self.dead_letters.index(dead)
        outputs = {p: PartitionOutput(offset) for p, offset in next_offsets.items()}
        for key, (_, accepted, scored_json) in requests.items():
            if key not in rejected:
                outputs[accepted.message.partition].records.append(
                    (self.scored_topic, accepted.record.customer_id.encode(), scored_json)
                )
        for letter, record in zip(dead, self.dead_letters.records(dead), strict=True):
            outputs[letter.source.partition].records.append(
                (self.dead_letters.topic, record.key, record.value)
            )
        await self.transactions.commit(outputs)
        metrics.EVENTS_OUT.labels(self.scored_topic).inc(len(kept))
        if dead:
            metrics.EVENTS_OUT.labels(self.dead_letters.topic).inc(len(dead))


def feedback_document(feedback: FeedbackEvent) -> dict[str, Any]:
    """A rating as indexed: the event (its comment already cleaned and redacted at the
    edge) plus ``rating``, the score on 0 (worst) to 1 (best) whatever its scale.

    >>> from datetime import datetime, UTC
    >>> event = FeedbackEvent(event_id="f1", occurred_at=datetime(2026, 1, 5, tzinfo=UTC),
    ...     customer_id="c1", kind="nps", score=9, scale={"min": 0, "max": 10})
    >>> doc = feedback_document(event)
    >>> doc["rating"], doc["kind"], "comment" in doc
    (0.9, 'nps', True)
    """
    document = feedback.model_dump(mode="json", exclude_none=True)
    document["rating"] = feedback.normalized_score()
    return document


class FeedbackSink:
    """Indexes ratings in ``crm-feedback`` (the ``event_id`` as document id: replays overwrite).

    The index is the searchable copy: the learner gets every rating from
    ``crm.training`` whatever happens here, so a rejected document is logged, as
    for alerts, not dead-lettered.
    """

    def __init__(self, settings: Settings, es: AsyncElasticsearch) -> None:
        self.settings = settings
        self.es = es

    async def deliver(self, ratings: Sequence[FeedbackEvent]) -> None:
        requests = [
            IndexRequest(
                feedback_index(self.settings, r.occurred_at), r.event_id, feedback_document(r)
            )
            for r in ratings
        ]
        if not requests:
            return
        for rejection in await bulk_index(self.es, requests):
            log.error("rating %s not indexed: %s", rejection.request.id, rejection.reason)


class AlertSink:
    """Publishes alerts on ``crm.alerts`` (keyed ``agent:a17``) and indexes them in ``crm-alerts``.

    The document id is the alert id plus its state, so a replay after a crash
    rewrites the same two documents (firing, resolved) instead of adding copies.
    """

    def __init__(self, settings: Settings, publisher: KafkaPublisher, es: AsyncElasticsearch):
        self.settings = settings
        self.publisher = publisher
        self.es = es
        self.topic = settings.topic_name(ALERTS)

    async def deliver(self, alerts: Sequence[Alert]) -> None:
        if not alerts:
            return
        documents = [a.model_dump(mode="json") for a in alerts]
        requests = [
            IndexRequest(
                alerts_index(self.settings, a.window_start), f"{a.alert_id}:{a.state}", doc
            )
            for a, doc in zip(alerts, documents, strict=True)
        ]
        for rejection in await bulk_index(self.es, requests):
            # The alert is still published below; the index is the searchable copy.
            log.error("alert %s not indexed: %s", rejection.request.id, rejection.reason)
        await self.publisher.publish(
            self.topic,
            [
                Outgoing(f"{a.dimension}:{a.key}".encode(), orjson.dumps(doc))
                for a, doc in zip(alerts, documents, strict=True)
            ],
        )
        for alert in alerts:
            counter = metrics.ALERTS_FIRED if alert.state == "firing" else metrics.ALERTS_RESOLVED
            counter.labels(alert.rule, alert.severity).inc()
            log.info("alert %s %s: %s", alert.state, alert.alert_id, alert.message)


async def write_audit(
    es: AsyncElasticsearch,
    settings: Settings,
    component: str,
    forgotten: Sequence[tuple[Forget, str, dict[str, int]]],
    at: datetime,
    *,
    per_key: bool = False,
) -> None:
    """Index what ``component`` removed for forget requests: ``(request, customer, removed)``,
    one document per request (``per_key``: per request and key, e.g. per conversation)."""
    requests = []
    for forget, customer_id, removed in forgotten:
        suffix = f":{forget.key}" if per_key else ""
        doc_id, body = audit_document(forget.request_id, customer_id, component, removed, at)
        requests.append(IndexRequest(audit_index(settings), doc_id + suffix, body))
        log.warning("forgot %s for request %s: %s", forget.key, forget.request_id, removed)
    for rejection in await bulk_index(es, requests):
        log.error("audit %s not indexed: %s", rejection.request.id, rejection.reason)
