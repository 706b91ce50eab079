"""Stages measured alone: (a) the edge, scoring and learning in process, each timed on
its own, (b) Elasticsearch bulk ingest, (c) Kafka produce and consume.

Each returns a :class:`StageResult`: how many events it handled in how many
seconds of wall time, plus what else is worth knowing (rejections, dead letters).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer

from bench.events import BenchEvent
from bench.stats import rate
from config.settings import Settings
from crmstream.produce import produce
from models import tokenize
from models.bundle import ModelBundle
from models.compiled import CompiledScorer
from schemas.events import ScoredCommunication
from streams import language
from streams.kafka import client_options
from streams.pipeline import Edge, EdgeConfig, Incoming, score_batch
from streams.profiles import communication_contact, contact_from_rating
from streams.runtime import tune_garbage_collector
from streams.search_index import (
    COMMUNICATIONS_ALIAS,
    IndexRequest,
    bulk_index,
    count_communications,
    create_async_client,
    create_client,
    install_templates,
)
from streams.sinks import communication_request, packed
from streams.topics import COMMUNICATIONS, FEEDBACK, TopicSpec
from streams.training import learn_message, pack_training

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


# -- (a) edge, scoring, learning -----------------------------------------------------

#: The bench's stand-in for the snapshot interval: workers compile a new snapshot about
#: every 30 s, that is every 30,000-60,000 events at the rates measured; this is more often.
COMPILE_EVERY_EVENTS = 10_000

#: The three parts of the models' stage, each timed on its own.
PARTS = ("edge", "scoring", "learning")


@dataclass
class PartTimes:
    """Wall and CPU seconds spent in each part (edge, scoring, learning)."""

    wall: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PARTS, 0.0))
    cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PARTS, 0.0))

    @contextmanager
    def timing(self, part: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall[part] += time.perf_counter() - wall
            self.cpu[part] += time.process_time() - cpu


class ModelStage:
    """What the worker and its learner compute per batch, in process, each part timed
    on its own: the edge (checks, cleaning and the packed training messages, as the
    agents do), scoring (as the worker scores a batch) and learning (as the learner
    learns the batch's training messages).

    Message offsets are positions in the event set, so dead letters name their event.
    """

    def __init__(self, settings: Settings) -> None:
        # crmstream/processes.py: the worker process loads these at start-up; untimed here too.
        tokenize.preload()
        language.preload()
        self.settings = settings
        self.edge = Edge(EdgeConfig.from_settings(settings))
        self.bundle = ModelBundle()
        self.communications_topic = settings.topic_name(COMMUNICATIONS)
        self.feedback_topic = settings.topic_name(FEEDBACK)
        self.training_offset = 0
        self.examples = 0
        self.times = PartTimes()
        self.scorer = CompiledScorer.from_bundle(self.bundle)
        self.compiled_at = -COMPILE_EVERY_EVENTS  # compile before the first batch
        self.compiles = 0
        self.seen = 0
        # agents/customers.py: the customers' segments the scoring agent stamps records with.
        self.segments: dict[str, str] = {}

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
        with self.times.timing("edge"):
            # agents/communications.py and agents/feedback.py: the edge checks.
            result = self.edge.communications(communications, now=now)
            checked = self.edge.feedback(feedback, now=now)
        with self.times.timing("scoring"):
            # streams/model_sync.py: a worker compiles each snapshot it receives (counted
            # here, as often as a snapshot every COMPILE_EVERY_EVENTS events).
            if self.seen - self.compiled_at >= COMPILE_EVERY_EVENTS:
                self.scorer = CompiledScorer.from_bundle(self.bundle)
                self.compiled_at = self.seen
                self.compiles += 1
            # agents/communications.py: score the batch with the live model.
            scored = score_batch([a.record for a in result.accepted], self.scorer, self.segments)
        self.seen += len(batch)
        with self.times.timing("edge"):
            # The agents' training messages for the learner (streams/training.py).
            training = pack_training("communication", scored)
            training += pack_training("feedback", [a.record for a in checked.accepted])
            # The agents' contacts for the customer profiles (agents/customers.py).
            contacts = [communication_contact(r) for r in scored]
            contacts += [
                contact_from_rating(a.record, a.message.partition, a.message.offset).keyed()
                for a in checked.accepted
            ]
            packed(contacts, self.settings.topic_partitions)
        with self.times.timing("learning"):
            # streams/learner.py: learn each training message in order; the version is
            # the next offset on the training topic.
            for value in training:
                outcome = learn_message(self.bundle, value)
                self.training_offset += 1
                self.bundle.learned_until(self.training_offset)
                self.examples += outcome.learned
        dead = [d.source.offset for d in (*result.dead, *checked.dead)]
        return scored, dead


@dataclass
class ModelStageOutput:
    parts: dict[str, StageResult]  # edge, scoring, learning
    documents: list[list[IndexRequest]]  # per batch: what the sink would index
    dead_positions: frozenset[int]  # events the edge dead-lettered

    @property
    def cpu_share(self) -> float | None:
        """CPU time over wall time of the three parts: about 1 when nothing else competed."""
        wall = sum(p.seconds for p in self.parts.values())
        cpu = sum(float(p.extra["cpu_s"]) for p in self.parts.values())
        return round(cpu / wall, 3) if wall > 0 else None

    @property
    def worker_path(self) -> StageResult:
        """Edge and scoring together: what one worker process does per event on its core."""
        edge, scoring = self.parts["edge"], self.parts["scoring"]
        return StageResult(edge.count, edge.seconds + scoring.seconds, {"parts": "edge+scoring"})


def batches(events: Sequence[BenchEvent], size: int) -> list[list[tuple[int, BenchEvent]]]:
    """``(position, event)`` pairs in batches of ``size``."""
    numbered = list(enumerate(events))
    return [numbered[i : i + size] for i in range(0, len(numbered), size)]


def _per_ms(seconds: float, count: int) -> float | None:
    return round(seconds * 1000 / count, 4) if count else None


def model_stage(
    settings: Settings,
    events: Sequence[BenchEvent],
    *,
    warmup: Sequence[BenchEvent] = (),
    advance: Advance = _nothing,
) -> ModelStageOutput:
    """Stages edge, scoring and learning: each part's events per second (no Kafka, no I/O).

    ``warmup`` runs first, untimed (tokenizer dictionaries, language models). The
    documents for stage (b) are built between batches, outside the timed parts.
    """
    tune_garbage_collector()  # as the worker and the learner do
    stage = ModelStage(settings)
    size = settings.batch_max_events
    for batch in batches(warmup, size):
        stage.process(batch, datetime.now(UTC))
    stage.times = PartTimes()
    examples_before = stage.examples
    documents: list[list[IndexRequest]] = []
    dead: list[int] = []
    built = 0.0
    for batch in batches(events, size):
        scored, dead_here = stage.process(batch, datetime.now(UTC))
        dead += dead_here
        started = time.perf_counter()
        documents.append([communication_request(settings, record)[0] for record in scored])
        built += time.perf_counter() - started
        # The documents are kept for stage (b): bench bookkeeping that no worker holds.
        # Frozen out of the garbage collector, they do not slow the next batches down.
        gc.freeze()
        advance(len(batch))
    wall, cpu = stage.times.wall, stage.times.cpu
    scored_count = sum(len(d) for d in documents)
    examples = stage.examples - examples_before
    common = {"batch_max_events": size}
    parts = {
        "edge": StageResult(
            len(events),
            wall["edge"],
            {
                **common,
                "dead_letters": len(dead),
                "ms_per_event": _per_ms(wall["edge"], len(events)),
                "cpu_s": round(cpu["edge"], 3),
            },
        ),
        "scoring": StageResult(
            len(events),
            wall["scoring"],
            {
                **common,
                "communications_scored": scored_count,
                "ms_per_communication": _per_ms(wall["scoring"], scored_count),
                "document_build_s": round(built, 3),
                "snapshots_compiled": stage.compiles,
                "cpu_s": round(cpu["scoring"], 3),
            },
        ),
        "learning": StageResult(
            len(events),
            wall["learning"],
            {
                **common,
                "examples": examples,
                "examples_per_s": round(rate(examples, wall["learning"]), 1),
                "ms_per_example": _per_ms(wall["learning"], examples),
                "cpu_s": round(cpu["learning"], 3),
                "training_messages_learned": stage.bundle.version,  # warm-up included
            },
        ),
    }
    return ModelStageOutput(parts, documents, frozenset(dead))


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
