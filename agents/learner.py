"""The one learner, and the snapshot follower every worker runs.

``crm.training`` has a single partition read by the consumer group
``<app>-learner``: whichever worker holds it is the learner and sees every
training example in order. It restores the newest snapshot, re-learns what came
after it, publishes a signed snapshot every ``model_snapshot_interval_s`` when it
learned something, and only then commits its offsets, so a crash never loses
what a snapshot does not hold. Every worker follows ``crm.models`` and swaps in
each new snapshot (:class:`streams.model_sync.LiveModel`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalGenerationError, RebalanceInProgressError
from aiokafka.structs import OffsetAndMetadata

from models.bundle import ModelBundle
from streams import metrics
from streams.app import app, live_model, settings
from streams.kafka import client_options
from streams.model_sync import SnapshotFollower, SnapshotPublisher
from streams.topics import MODEL_EVENTS, TRAINING

log = logging.getLogger(__name__)


class _Assignment(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.changed = True

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.changed = True

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.changed = True


async def _latest_snapshot() -> ModelBundle | None:
    follower = SnapshotFollower(settings)
    await follower.start()
    try:
        return await follower.latest()
    finally:
        await follower.stop()


class Learner:
    """The learning loop's state: the bundle, the training partition, what was published."""

    def __init__(self, consumer: AIOKafkaConsumer, publisher: SnapshotPublisher) -> None:
        self.consumer = consumer
        self.publisher = publisher
        self.partition = TopicPartition(settings.topic_name(TRAINING), 0)
        self.assignment = _Assignment()
        self.bundle: ModelBundle | None = None
        self.published = -1
        self.last_publish = time.monotonic()
        self.events_topic = settings.topic_name(MODEL_EVENTS)

    async def step(self) -> None:
        batch = await self.consumer.getmany(timeout_ms=1000)
        if self.assignment.changed:
            await self._resync()
            return  # drop what was fetched before the seek
        if self.bundle is None:
            return  # another worker is the learner
        for message in batch.get(self.partition, []):
            await self._learn(message.value or b"{}", message.offset)
        due = time.monotonic() - self.last_publish >= settings.model_snapshot_interval_s
        if due and self.bundle.version != self.published:
            await self._publish(self.bundle)

    async def _resync(self) -> None:
        self.assignment.changed = False
        self.bundle = None
        if self.partition in self.consumer.assignment():
            # We are the learner: resume from the newest snapshot, re-learn what followed.
            self.bundle = await _latest_snapshot() or ModelBundle()
            self.consumer.seek(self.partition, self.bundle.version)
            self.published = self.bundle.version
            log.info("learner resumes at model version %d", self.bundle.version)

    async def _learn(self, value: bytes, offset: int) -> None:
        assert self.bundle is not None
        try:
            outcome = self.bundle.learn(orjson.loads(value))
        except Exception:  # one bad example must not stop learning
            log.exception("could not learn from training offset %d", offset)
            self.bundle.version = offset + 1
            return
        self.bundle.version = offset + 1
        events = [("drift", asdict(e)) for e in outcome.drift]
        events += [("emerging_need", asdict(e)) for e in outcome.emerging]
        for kind, fields in events:
            metrics.MODEL_EVENTS.labels(kind).inc()
            payload = orjson.dumps({"kind": kind, **fields}, default=str)
            await self.publisher.producer.send(self.events_topic, value=payload)
        if not outcome.joined:
            metrics.TRAINING_UNJOINED.labels(self.partition.topic).inc()

    async def _publish(self, bundle: ModelBundle) -> None:
        size = await self.publisher.publish(bundle)
        try:
            await self.consumer.commit({self.partition: OffsetAndMetadata(bundle.version, "")})
        except (CommitFailedError, IllegalGenerationError, RebalanceInProgressError) as lost:
            # Another worker took the training partition; it resumes from the newest snapshot.
            log.info("training partition moved while committing (%s); no longer the learner", lost)
            self.assignment.changed = True
            return
        self.published, self.last_publish = bundle.version, time.monotonic()
        for model, version in bundle.versions.items():
            metrics.MODEL_VERSION.labels("learner", model).set(version)
        log.info("published model snapshot %d (%d bytes)", bundle.version, size)


@app.task
async def learn() -> None:
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        group_id=f"{settings.app_id}-learner",
        session_timeout_ms=int(settings.kafka_session_timeout_s * 1000),
        heartbeat_interval_ms=int(settings.kafka_session_timeout_s * 250),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=1000,
    )
    publisher = SnapshotPublisher(settings)
    learner = Learner(consumer, publisher)
    await consumer.start()
    await publisher.start()
    consumer.subscribe([learner.partition.topic], listener=learner.assignment)
    try:
        while True:
            try:
                await learner.step()
            except asyncio.CancelledError:
                raise
            except Exception:  # the learner must never take the worker down with it
                log.exception("learner step failed; resynchronising in 1 s")
                learner.assignment.changed = True
                await asyncio.sleep(1)
    finally:
        await publisher.stop()
        await consumer.stop()


@app.task
async def follow_models() -> None:
    while True:
        follower = SnapshotFollower(settings)
        await follower.start()
        try:
            newest = await follower.latest()
            if newest is not None:
                live_model.swap(newest)
            await follower.follow(live_model.swap, poll_s=settings.model_sync_poll_s)
        except asyncio.CancelledError:
            raise
        except Exception:  # scoring goes on with the current model meanwhile
            log.exception("following model snapshots failed; retrying in 1 s")
            await asyncio.sleep(1)
        finally:
            await follower.stop()
