"""The one learner: a process of its own (``crmstream learner``).

``crm.training`` has a single partition read by the consumer group
``<app>-learner``: whichever learner process holds it is *the* learner and sees
every training message in order (a worker batch of examples, or one example in the
old format: :mod:`streams.training`); the others wait as stand-bys. The bundle's
version is the offset of the next message to learn. It restores the
newest snapshot, re-learns what came after it, publishes a signed snapshot every
``model_snapshot_interval_s`` when it learned something, and only then commits
its offsets, so a crash never loses what a snapshot does not hold. Workers follow
``crm.models`` and swap in each new snapshot (:mod:`agents.learner`).

Learning runs in its own process so that it uses a core of its own: the worker's
event loop only scores, and pickling a snapshot never stalls it. By default each
worker starts one as a child (``CRMSTREAM_LEARNER=child``); it serves its own
metrics on ``CRMSTREAM_LEARNER_WEB_PORT``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from dataclasses import asdict

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalGenerationError, RebalanceInProgressError
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import start_http_server

from config.settings import Settings
from models.bundle import ModelBundle
from schemas.events import EmergingNeed
from streams import metrics
from streams.kafka import client_options
from streams.model_sync import SnapshotFollower, SnapshotPublisher
from streams.runtime import release_free_memory
from streams.topics import MODEL_EVENTS, TRAINING
from streams.training import learn_message

log = logging.getLogger(__name__)


class _Assignment(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.changed = True

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.changed = True

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.changed = True


async def latest_snapshot(settings: Settings) -> ModelBundle | None:
    """The newest complete, authentic snapshot on ``crm.models`` (None if there is none)."""
    follower = SnapshotFollower(settings)
    await follower.start()
    try:
        return await follower.latest()
    finally:
        await follower.stop()


class Learner:
    """The learning loop's state: the bundle, the training partition, what was published."""

    def __init__(
        self, settings: Settings, consumer: AIOKafkaConsumer, publisher: SnapshotPublisher
    ) -> None:
        self.settings = settings
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
            return  # another process is the learner
        for message in batch.get(self.partition, []):
            await self._learn(message.value or b"{}", message.offset)
        due = time.monotonic() - self.last_publish >= self.settings.model_snapshot_interval_s
        if due:
            await self.publish()

    async def publish(self) -> None:
        """Publish a snapshot if something was learned since the last one."""
        if self.bundle is not None and self.bundle.version != self.published:
            await self._publish(self.bundle)

    async def _resync(self) -> None:
        self.assignment.changed = False
        self.bundle = None
        if self.partition in self.consumer.assignment():
            # We are the learner: resume from the newest snapshot, re-learn what followed.
            self.bundle = await latest_snapshot(self.settings) or ModelBundle()
            self.consumer.seek(self.partition, self.bundle.version)
            self.published = self.bundle.version
            metrics.LEARNER_POSITION.set(self.bundle.version)
            log.info("learner resumes at model version %d", self.bundle.version)

    async def _learn(self, value: bytes, offset: int) -> None:
        assert self.bundle is not None
        try:
            outcome = learn_message(self.bundle, value)
        except Exception:  # one bad message must not stop learning
            log.exception("could not learn from training offset %d", offset)
            self.bundle.learned_until(offset + 1)  # a bad message is not read again
            metrics.LEARNER_POSITION.set(self.bundle.version)
            return
        self.bundle.learned_until(offset + 1)
        metrics.LEARNER_POSITION.set(self.bundle.version)
        metrics.TRAINING_LEARNED.inc(outcome.learned - outcome.failed)
        events = [("drift", asdict(e)) for e in outcome.drift]
        events += [  # validated against its contract (schemas/json: emerging-need)
            ("emerging_need", EmergingNeed.model_validate(asdict(e)).model_dump(mode="json"))
            for e in outcome.emerging
        ]
        # The audit of a forget request (crmstream forget): what the join memory dropped.
        events += [
            ("forgotten", {"request_id": request, "removed": removed})
            for request, removed in (outcome.forgotten or {}).items()
        ]
        for kind, fields in events:
            metrics.MODEL_EVENTS.labels(kind).inc()
            payload = orjson.dumps({"kind": kind, **fields}, default=str)
            await self.publisher.producer.send(self.events_topic, value=payload)
        if outcome.unjoined:
            metrics.TRAINING_UNJOINED.labels(self.partition.topic).inc(outcome.unjoined)

    async def _publish(self, bundle: ModelBundle) -> None:
        size = await self.publisher.publish(bundle)
        try:
            await self.consumer.commit({self.partition: OffsetAndMetadata(bundle.version, "")})
        except (CommitFailedError, IllegalGenerationError, RebalanceInProgressError) as lost:
            # Another learner took the training partition; it resumes from the newest snapshot.
            log.info("training partition moved while committing (%s); no longer the learner", lost)
            self.assignment.changed = True
            return
        self.published, self.last_publish = bundle.version, time.monotonic()
        for model, version in bundle.versions.items():
            metrics.MODEL_VERSION.labels("learner", model).set(version)
        log.info("published model snapshot %d (%d bytes)", bundle.version, size)
        release_free_memory()  # the snapshot's serialized copies (streams.runtime)


def serve_metrics(settings: Settings) -> None:
    """The learner's Prometheus metrics on its own port (a worker serves its own)."""
    try:
        start_http_server(settings.learner_web_port, addr=settings.learner_web_host)
    except OSError as error:
        # A stand-by learner beside another on the same host: learning matters more.
        log.warning(
            "learner metrics not served on %s:%d (%s); set CRMSTREAM_LEARNER_WEB_PORT",
            settings.learner_web_host,
            settings.learner_web_port,
            error,
        )


async def _orphaned(parent_pid: int) -> None:
    """Return once the parent process is gone (a killed worker must not leave us behind)."""
    if hasattr(os, "pidfd_open"):  # Linux: the descriptor becomes readable when it exits
        gone = asyncio.Event()
        try:
            descriptor = os.pidfd_open(parent_pid)
        except ProcessLookupError:
            log.warning("worker %d is gone; the learner stops", parent_pid)
            return
        loop = asyncio.get_running_loop()
        loop.add_reader(descriptor, gone.set)
        try:
            await gone.wait()
        finally:
            loop.remove_reader(descriptor)
            os.close(descriptor)
    else:
        while os.getppid() == parent_pid:  # noqa: ASYNC110 (nothing to wait on elsewhere)
            await asyncio.sleep(1.0)
    log.warning("worker %d is gone; the learner stops", parent_pid)


async def run_learner(settings: Settings, *, parent_pid: int | None = None) -> None:
    """Learn until SIGTERM/SIGINT (or until ``parent_pid`` exits), then publish what is new."""
    serve_metrics(settings)
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
    learner = Learner(settings, consumer, publisher)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    watchdog = asyncio.create_task(_orphaned(parent_pid)) if parent_pid is not None else None
    if watchdog is not None:
        watchdog.add_done_callback(lambda _: stopping.set())
    await consumer.start()
    await publisher.start()
    consumer.subscribe([learner.partition.topic], listener=learner.assignment)
    try:
        while not stopping.is_set():
            try:
                await learner.step()
            except Exception:  # never give up learning over one failure
                log.exception("learner step failed; resynchronising in 1 s")
                learner.assignment.changed = True
                await asyncio.sleep(1)
        # A clean stop keeps what was learned since the last snapshot.
        await learner.publish()
    finally:
        if watchdog is not None:
            watchdog.cancel()
        await publisher.stop()
        await consumer.stop()
