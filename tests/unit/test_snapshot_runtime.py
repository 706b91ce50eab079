"""A snapshot names its format and the runtime that wrote it; a worker of another
runtime or format refuses it before joining or unpickling it, and keeps its model."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from config.settings import Settings
from models.bundle import SNAPSHOT_FORMAT, ModelBundle
from models.snapshots import SnapshotChunk, runtime, split_snapshot
from streams import metrics
from streams.model_sync import SnapshotFollower

KEY = "k" * 64


@pytest.fixture
def follower() -> Iterator[SnapshotFollower]:
    """A worker's follower, never started: only its chunk handling is exercised."""

    async def make() -> SnapshotFollower:  # aiokafka's consumer wants a running loop
        return SnapshotFollower(Settings(model_signing_key=SecretStr(KEY)), memories=False)

    loop = asyncio.new_event_loop()
    try:
        yield loop.run_until_complete(make())
    finally:
        loop.close()


def chunks_of(bundle: ModelBundle) -> list[SnapshotChunk]:
    return split_snapshot(
        bundle.snapshot(), version=bundle.version, key=KEY.encode(), chunk_size=2048,
        format=SNAPSHOT_FORMAT,
    )  # fmt: skip


def accept_all(follower: SnapshotFollower, chunks: list[SnapshotChunk]) -> list[ModelBundle]:
    """Feed the chunks as Kafka messages (headers and value); the bundles completed."""
    accepted = [follower._accept(c.headers(), c.data) for c in chunks]
    return [bundle for bundle in accepted if bundle is not None]


def rejected_count() -> float:
    return float(metrics.MODEL_SNAPSHOTS_REJECTED._value.get())


def test_the_headers_name_the_format_and_this_runtime() -> None:
    bundle = ModelBundle()
    bundle.learned_until(5)
    chunks = chunks_of(bundle)
    assert len(chunks) > 1
    for chunk in chunks:
        read = SnapshotChunk.from_message(chunk.headers(), chunk.data)
        assert (read.format, read.runtime) == (SNAPSHOT_FORMAT, runtime())
        assert read == chunk


def test_a_snapshot_of_this_runtime_is_restored(follower: SnapshotFollower) -> None:
    bundle = ModelBundle()
    bundle.learned_until(9)
    [restored] = accept_all(follower, chunks_of(bundle))
    assert restored.version == 9


@pytest.mark.parametrize(
    ("header", "written"),
    [("runtime", "python=3.11 river=0.99 numpy=2"), ("format", "crmstream.bundle/99")],
)
def test_another_runtime_or_format_is_refused_unread(
    follower: SnapshotFollower, monkeypatch: pytest.MonkeyPatch, header: str, written: str
) -> None:
    restored: list[bytes] = []  # the follower would log and drop an exception raised here
    monkeypatch.setattr(ModelBundle, "restore", lambda data, **_: restored.append(data))
    bundle = ModelBundle()
    bundle.learned_until(11)
    chunks = [c._replace(**{header: written}) for c in chunks_of(bundle)]  # type: ignore[arg-type]
    before = rejected_count()
    assert accept_all(follower, chunks) == []
    assert restored == []  # refused before anything was unpickled
    assert rejected_count() == before + 1  # once per snapshot, not per chunk
    assert follower.pending == {}  # nothing kept waiting for the rest


def test_a_snapshot_without_the_headers_is_still_read(follower: SnapshotFollower) -> None:
    """Learners older than the headers: the format tag inside the snapshot decides."""
    bundle = ModelBundle()
    bundle.learned_until(13)
    chunks = [c._replace(format="", runtime="") for c in chunks_of(bundle)]
    assert all(len(c.headers()) == 4 for c in chunks)
    [restored] = accept_all(follower, chunks)
    assert restored.version == 13
