"""Model snapshots through Kafka: the learner publishes, every worker follows.

``crm.models`` has one partition and no consumer group reads it: every worker
reads all of it, so every scorer sees every snapshot. A worker that starts looks
back from the end of the topic for the newest complete, authentic snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from config.settings import Settings
from crmstream.errors import ConfigurationError
from models.bundle import SNAPSHOT_FORMAT, ModelBundle
from models.compiled import CompiledScorer
from models.snapshots import SnapshotChunk, SnapshotRejected, join_snapshot, split_snapshot
from streams import metrics
from streams.kafka import client_options
from streams.topics import MODELS

log = logging.getLogger(__name__)


def signing_key(settings: Settings) -> bytes:
    """The HMAC key: from the environment, or (local set-ups only) one kept in the state folder."""
    if settings.model_signing_key is not None:
        return settings.model_signing_key.get_secret_value().encode()
    path = settings.state_dir / "model-signing.key"
    if not path.exists():
        if not settings.kafka_is_local:
            raise ConfigurationError("set CRMSTREAM_MODEL_SIGNING_KEY: snapshots must be signed")
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


class SnapshotPublisher:
    """Signs a bundle, cuts it into chunks and publishes them, waiting for the broker."""

    def __init__(self, settings: Settings) -> None:
        self.topic = settings.topic_name(MODELS)
        self.key = signing_key(settings)
        self.producer = AIOKafkaProducer(**client_options(settings), acks="all")

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def publish(self, bundle: ModelBundle) -> int:
        """Publish a snapshot; return its size in bytes."""
        data = bundle.snapshot()
        chunks = split_snapshot(data, version=bundle.version, key=self.key, format=SNAPSHOT_FORMAT)
        futures = [
            await self.producer.send(
                self.topic,
                value=c.data,
                key=str(c.version).encode(),
                headers=c.headers(),
                partition=0,
            )
            for c in chunks
        ]
        await asyncio.gather(*futures)
        metrics.MODEL_SNAPSHOTS.inc()
        return len(data)


class SnapshotFollower:
    """Reads ``crm.models``: the newest snapshot at start, then every new one as it comes.

    ``memories=False`` (a worker, which only scores) restores the models without the
    learner's memories of recent texts (:meth:`models.bundle.ModelBundle.restore`).
    """

    def __init__(self, settings: Settings, *, memories: bool = True) -> None:
        self.memories = memories
        self.partition = TopicPartition(settings.topic_name(MODELS), 0)
        self.key = signing_key(settings)
        self.consumer = AIOKafkaConsumer(
            **client_options(settings), enable_auto_commit=False, group_id=None
        )
        self.pending: dict[int, list[SnapshotChunk]] = defaultdict(list)

    async def start(self) -> None:
        await self.consumer.start()
        self.consumer.assign([self.partition])

    async def stop(self) -> None:
        await self.consumer.stop()

    def _accept(self, headers: list[tuple[str, bytes]], value: bytes) -> ModelBundle | None:
        """Add a chunk; return the bundle when a snapshot is complete and authentic."""
        try:
            chunk = SnapshotChunk.from_message(headers, value)
        except SnapshotRejected as rejected:
            metrics.MODEL_SNAPSHOTS_REJECTED.inc()
            log.warning("ignored a message on the models topic: %s", rejected)
            return None
        refusal = chunk.refusal(SNAPSHOT_FORMAT)
        if refusal is not None:  # never joined nor unpickled
            if chunk.part == 0:  # one line per snapshot, not per chunk
                metrics.MODEL_SNAPSHOTS_REJECTED.inc()
                log.error("refused model snapshot: %s; keeping the current model", refusal)
            return None
        parts = self.pending[chunk.version]
        parts.append(chunk)
        if len(parts) < chunk.parts:
            return None
        del self.pending[chunk.version]
        try:
            snapshot = join_snapshot(parts, key=self.key)
            bundle = ModelBundle.restore(snapshot, memories=self.memories)
        except Exception as rejected:  # tampered, corrupt, or of another code version
            metrics.MODEL_SNAPSHOTS_REJECTED.inc()
            log.error(
                "rejected model snapshot %d: %s; keeping the current model", chunk.version, rejected
            )
            return None
        for stale in [v for v in self.pending if v < chunk.version]:
            del self.pending[stale]
        return bundle

    async def latest(self) -> ModelBundle | None:
        """The newest complete, authentic snapshot on the topic (None if there is none)."""
        end = (await self.consumer.end_offsets([self.partition]))[self.partition]
        window = 64
        while True:
            start = max(0, end - window)
            self.consumer.seek(self.partition, start)
            self.pending.clear()
            newest: ModelBundle | None = None
            while await self.consumer.position(self.partition) < end:
                batch = await self.consumer.getmany(self.partition, timeout_ms=1000)
                for message in batch.get(self.partition, []):
                    if message.offset >= end:
                        break
                    bundle = self._accept(list(message.headers), message.value or b"")
                    if bundle is not None and (newest is None or bundle.version > newest.version):
                        newest = bundle
            if newest is not None or start == 0:
                self.consumer.seek(self.partition, end)
                return newest
            window *= 4

    async def follow(
        self, on_bundle: Callable[[ModelBundle], Awaitable[None] | None], *, poll_s: float
    ) -> None:
        """Call ``on_bundle`` with each new snapshot, forever."""
        while True:
            batch = await self.consumer.getmany(self.partition, timeout_ms=int(poll_s * 1000))
            for message in batch.get(self.partition, []):
                bundle = self._accept(list(message.headers), message.value or b"")
                if bundle is not None:
                    result = on_bundle(bundle)
                    if result is not None:
                        await result


class LiveModel:
    """What the scorers use right now: the compiled form of the newest snapshot
    (:class:`models.compiled.CompiledScorer`), swapped whole when a newer one arrives.

    The worker keeps only the compiled form, not the bundle it came from: the bundle's
    object graph (dicts of weights, the learner's memory of recent texts) is what
    Python's garbage collector would otherwise walk again and again while the worker
    builds records; the compiled form is a few arrays.
    """

    def __init__(self) -> None:
        self.scorer = CompiledScorer.from_bundle(ModelBundle())

    @property
    def version(self) -> int:
        """The bundle version scored with now."""
        return self.scorer.versions["bundle"]

    def swap(self, bundle: ModelBundle) -> None:
        if bundle.version < self.version:
            return  # an older snapshot (e.g. read again at start-up) never replaces a newer one
        self.scorer = CompiledScorer.from_bundle(bundle)  # once per snapshot
        for model, version in bundle.versions.items():
            metrics.MODEL_VERSION.labels("scorer", model).set(version)
        for model, report in bundle.health.report().items():
            for metric, value in report.items():
                metrics.MODEL_QUALITY.labels(model, metric).set(value)
        log.info("scoring with model version %d", bundle.version)
