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

import logging
import time
from dataclasses import asdict

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
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


@app.task
async def learn() -> None:
    partition = TopicPartition(settings.topic_name(TRAINING), 0)
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        group_id=f"{settings.app_id}-learner",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=1000,
    )
    publisher = SnapshotPublisher(settings)
    assignment = _Assignment()
    await consumer.start()
    await publisher.start()
    consumer.subscribe([partition.topic], listener=assignment)
    bundle: ModelBundle | None = None
    published, last_publish = -1, time.monotonic()
    events_topic = settings.topic_name(MODEL_EVENTS)
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            if assignment.changed:
                assignment.changed = False
                bundle = None
                if partition in consumer.assignment():
                    # We are the learner: resume from the newest snapshot, re-learn what followed.
                    bundle = await _latest_snapshot() or ModelBundle()
                    consumer.seek(partition, bundle.version)
                    published = bundle.version
                    log.info("learner resumes at model version %d", bundle.version)
                    continue  # drop what was fetched before the seek
            if bundle is None:
                continue
            for message in batch.get(partition, []):
                try:
                    outcome = bundle.learn(orjson.loads(message.value or b"{}"))
                except Exception:  # one bad example must not stop learning
                    log.exception("could not learn from training offset %d", message.offset)
                    bundle.version = message.offset + 1
                    continue
                bundle.version = message.offset + 1
                events = [("drift", asdict(e)) for e in outcome.drift]
                events += [("emerging_need", asdict(e)) for e in outcome.emerging]
                for kind, fields in events:
                    metrics.MODEL_EVENTS.labels(kind).inc()
                    value = orjson.dumps({"kind": kind, **fields}, default=str)
                    await publisher.producer.send(events_topic, value=value)
                if not outcome.joined:
                    metrics.TRAINING_UNJOINED.labels(message.topic).inc()
            due = time.monotonic() - last_publish >= settings.model_snapshot_interval_s
            if due and bundle.version != published:
                size = await publisher.publish(bundle)
                await consumer.commit({partition: OffsetAndMetadata(bundle.version, "")})
                published, last_publish = bundle.version, time.monotonic()
                for model, version in bundle.versions.items():
                    metrics.MODEL_VERSION.labels("learner", model).set(version)
                log.info("published model snapshot %d (%d bytes)", bundle.version, size)
    finally:
        await publisher.stop()
        await consumer.stop()


@app.task
async def follow_models() -> None:
    follower = SnapshotFollower(settings)
    await follower.start()
    try:
        newest = await follower.latest()
        if newest is not None:
            live_model.swap(newest)
        await follower.follow(live_model.swap, poll_s=settings.model_sync_poll_s)
    finally:
        await follower.stop()
