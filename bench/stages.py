"""Stages measured alone: (a) the models' stage in process, (b) Elasticsearch bulk
ingest, (c) Kafka produce and consume.

Each returns a :class:`StageResult`: how many events it handled in how many
seconds of wall time, plus what else is worth knowing (rejections, dead letters).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from bench.documents import index_request
from bench.events import BenchEvent
from bench.stats import rate, rates_by_tenth
from config.settings import Settings
from crmstream.produce import produce
from models.bundle import ModelBundle
from schemas.events import ScoredCommunication
from streams.kafka import client_options
from streams.pipeline import Edge, EdgeConfig, Incoming, training_example, with_scores
from streams.search_index import (
    COMMUNICATIONS_ALIAS,
    IndexRequest,
    bulk_index,
    count_communications,
    create_async_client,
    create_client,
    install_templates,
)
from streams.topics import COMMUNICATIONS, FEEDBACK, TopicSpec

Advance = Callable[[int], object]
# Stage (c)'s own topic (created and deleted with the bench namespace).
KAFKA_STAGE_TOPIC = TopicSpec("bench.kafka-stage", "internal", retention_days=1)


@dataclass
class StageResult:
    """What one stage did: ``count`` events in ``seconds``, and other figures."""

    count: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def events_per_s(self) -> float:
        return rate(self.count, self.seconds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "events_per_s": round(self.events_per_s, 1),
            "events": self.count,
            "seconds": round(self.seconds, 3),
            **self.extra,
        }


def _nothing(_: int) -> None:
    return None


# -- (a) models ---------------------------------------------------------------------


class ModelStage:
    """What the worker computes per batch, in process: the edge, the training examples,
    scoring with a :class:`ModelBundle`, and the learner learning from those examples.

    Message offsets are positions in the event set, so dead letters name their event.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.edge = Edge(EdgeConfig.from_settings(settings))
        self.bundle = ModelBundle()
        self.communications_topic = settings.topic_name(COMMUNICATIONS)
        self.feedback_topic = settings.topic_name(FEEDBACK)
        self.training_offset = 0

    def process(
        self, batch: Sequence[tuple[int, BenchEvent]], now: datetime
    ) -> tuple[list[ScoredCommunication], list[int]]:
        """One batch: the scored communications and the positions of dead-lettered events."""
        communications = [
            Incoming(e.value, e.key, self.communications_topic, 0, position)
            for position, e in batch
            if e.kind == "communication"
        ]
        feedback = [
            Incoming(e.value, e.key, self.feedback_topic, 0, position)
            for position, e in batch
            if e.kind == "feedback"
        ]
        # agents/communications.py: edge, training examples out, then score.
        result = self.edge.communications(communications, now=now)
        training = [
            orjson.dumps(training_example("communication", a.record)) for a in result.accepted
        ]
        scored = [with_scores(a.record, self.bundle) for a in result.accepted]
        # agents/feedback.py: edge, training examples out.
        checked = self.edge.feedback(feedback, now=now)
        training += [orjson.dumps(training_example("feedback", a.record)) for a in checked.accepted]
        # agents/learner.py: learn each example in order; the version is the next offset.
        for value in training:
            self.bundle.learn(orjson.loads(value))
            self.training_offset += 1
            self.bundle.version = self.training_offset
        dead = [d.source.offset for d in (*result.dead, *checked.dead)]
        return scored, dead


@dataclass
class ModelStageOutput:
    result: StageResult
    documents: list[list[IndexRequest]]  # per batch: what the sink would index
    dead_positions: frozenset[int]  # events the edge dead-lettered


def batches(events: Sequence[BenchEvent], size: int) -> list[list[tuple[int, BenchEvent]]]:
    """``(position, event)`` pairs in batches of ``size``."""
    numbered = list(enumerate(events))
    return [numbered[i : i + size] for i in range(0, len(numbered), size)]


def model_stage(
    settings: Settings,
    events: Sequence[BenchEvent],
    *,
    warmup: Sequence[BenchEvent] = (),
    advance: Advance = _nothing,
) -> ModelStageOutput:
    """Stage (a): events per second through edge, scoring and learning (no Kafka, no I/O).

    ``warmup`` runs first, untimed (tokenizer dictionaries, language models). The
    documents for stage (b) are built between batches, outside the timed part.
    """
    stage = ModelStage(settings)
    size = settings.batch_max_events
    for batch in batches(warmup, size):
        stage.process(batch, datetime.now(UTC))
    timed = 0.0
    documents: list[list[IndexRequest]] = []
    dead: list[int] = []
    built = 0.0
    progress: list[tuple[float, int]] = []  # (timed seconds, events) after each batch
    cpu = 0.0
    for batch in batches(events, size):
        now = datetime.now(UTC)
        started, started_cpu = time.perf_counter(), time.process_time()
        scored, dead_here = stage.process(batch, now)
        timed += time.perf_counter() - started
        cpu += time.process_time() - started_cpu
        progress.append((timed, (progress[-1][1] if progress else 0) + len(batch)))
        dead += dead_here
        started = time.perf_counter()
        documents.append([index_request(settings, record) for record in scored])
        built += time.perf_counter() - started
        advance(len(batch))
    extra = {
        "communications_scored": sum(len(d) for d in documents),
        "dead_letters": len(dead),
        "batch_max_events": size,
        "document_build_s": round(built, 3),
        "events_per_s_by_tenth": rates_by_tenth(progress),
        # CPU time over wall time: about 1 when nothing else competed for the core.
        "cpu_share": round(cpu / timed, 3) if timed > 0 else None,
        "training_examples_learned": stage.bundle.version,  # warm-up included
    }
    return ModelStageOutput(StageResult(len(events), timed, extra), documents, frozenset(dead))


# -- (b) Elasticsearch --------------------------------------------------------------


def delete_communications_indices(settings: Settings) -> None:
    """Drop the namespace's communications indices (the template stays)."""
    client = create_client(settings)
    try:
        names = list(
            client.indices.get(
                index=f"{settings.index_name(COMMUNICATIONS_ALIAS)}-*", expand_wildcards="all"
            )
        )
        if names:  # the cluster refuses wildcard deletes: name them
            client.indices.delete(index=",".join(names))
    finally:
        client.close()


async def _bulk_all(
    settings: Settings, documents: Sequence[Sequence[IndexRequest]], advance: Advance
) -> tuple[float, int]:
    es = create_async_client(settings)
    rejected = 0
    try:
        started = time.perf_counter()
        for batch in documents:  # one bulk_index per worker batch, as the sink calls it
            rejected += len(await bulk_index(es, batch))
            advance(len(batch))
        return time.perf_counter() - started, rejected
    finally:
        await es.close()


def elasticsearch_stage(
    settings: Settings, documents: Sequence[Sequence[IndexRequest]], *, advance: Advance = _nothing
) -> StageResult:
    """Stage (b): bulk-index the enriched documents into the namespace's indices.

    The indices are deleted afterwards so that the end-to-end run starts empty.
    """
    client = create_client(settings)
    try:
        install_templates(client, settings)
    finally:
        client.close()
    total = sum(len(batch) for batch in documents)
    try:
        seconds, rejected = asyncio.run(_bulk_all(settings, documents, advance))
        searchable = count_communications(settings)
    finally:
        delete_communications_indices(settings)
    return StageResult(total, seconds, {"rejected": rejected, "searchable_after": searchable})


# -- (c) Kafka ----------------------------------------------------------------------


async def _produce_and_consume(
    settings: Settings, events: Sequence[BenchEvent], advance: Advance, timeout_s: float
) -> tuple[float, int]:
    topic = settings.topic_name(KAFKA_STAGE_TOPIC.name)
    consumer = AIOKafkaConsumer(
        topic,
        **client_options(settings),
        group_id=f"{settings.app_id}-bench-kafka",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        while not consumer.assignment():  # join the group before the clock starts
            await consumer.getmany(timeout_ms=200)
        consumed = 0
        received = 0
        started = time.perf_counter()
        sending = asyncio.create_task(produce(settings, ((topic, e.key, e.value) for e in events)))
        deadline = time.monotonic() + timeout_s
        while consumed < len(events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"consumed {consumed} of {len(events)} within {timeout_s}s")
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                consumed += len(messages)
                received += sum(len(m.value or b"") for m in messages)
                advance(len(messages))
        seconds = time.perf_counter() - started
        await sending
        return seconds, received
    finally:
        await consumer.stop()


def kafka_stage(
    settings: Settings,
    events: Sequence[BenchEvent],
    *,
    advance: Advance = _nothing,
    timeout_s: float = 1800.0,
) -> StageResult:
    """Stage (c): produce every event's bytes to a bench topic (as ``crmstream.produce``
    does) while a consumer group reads them back; first send to last message consumed."""
    seconds, received = asyncio.run(_produce_and_consume(settings, events, advance, timeout_s))
    return StageResult(
        len(events), seconds, {"bytes": received, "mb_per_s": round(received / seconds / 1e6, 2)}
    )
