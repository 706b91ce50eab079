"""A bundle's snapshot keeps the models and the learner's memories apart: a worker restores
the models alone, the learner everything; snapshots of other formats are refused unread."""

from __future__ import annotations

import pickle
import zlib
from typing import Any

import pytest

from models.bundle import SNAPSHOT_FORMAT, ModelBundle, SnapshotFormatError
from models.compiled import CompiledScorer
from models.features import Example


@pytest.fixture(scope="module")
def trained() -> ModelBundle:
    bundle = ModelBundle(memory=500)
    for i in range(200):
        refund = i % 2 == 0
        record = {
            "event_id": f"e{i}",
            "conversation_id": f"c{i}",
            "text": "I want my money back" if refund else "the parcel never arrived",
            "direction": "inbound",
            "need": "refund" if refund else "delivery",
        }
        bundle.learn({"type": "communication", "record": record})
    return bundle


def scores(bundle: ModelBundle) -> list[object]:
    texts = ["money back please", "where is my parcel", "something else"]
    return [bundle.score({"text": t}) for t in texts]


def test_the_learner_restores_models_and_memories(trained: ModelBundle) -> None:
    restored = ModelBundle.restore(trained.snapshot())
    assert scores(restored) == scores(trained)
    assert list(restored.examples) == list(trained.examples) and len(restored.examples) == 200
    assert list(restored.conversations) == list(trained.conversations)
    assert restored.health.report() == trained.health.report()
    # It learns on: a label joins a text it remembered.
    assert restored.learn_batch("label", [{"event_id": "e7", "need": "refund"}]).joined


def test_a_scorer_restores_the_models_alone(trained: ModelBundle) -> None:
    restored = ModelBundle.restore(trained.snapshot(), memories=False)
    assert scores(restored) == scores(trained)
    assert restored.versions == trained.versions
    assert len(restored.examples) == len(restored.conversations) == 0
    assert restored.examples.limit == trained.examples.limit == 500
    one, other = CompiledScorer.from_bundle(restored), CompiledScorer.from_bundle(trained)
    x = [Example("money back please"), Example("parcel")]
    assert one.score_many(x) == other.score_many(x)


def test_the_memories_are_apart_and_the_bundle_is_left_whole(trained: ModelBundle) -> None:
    tag, models, memories = pickle.loads(trained.snapshot())
    assert tag == SNAPSHOT_FORMAT
    assert len(zlib.decompress(memories)) > len(zlib.decompress(models)) / 10
    assert len(trained.examples) == 200  # taking a snapshot emptied nothing


def test_a_snapshot_of_the_untagged_format_is_refused(trained: ModelBundle) -> None:
    """The earliest learners pickled the whole bundle in one zlib stream: it holds the
    emerging-need detector before issue #15, which this code cannot use."""
    older = zlib.compress(pickle.dumps(trained, protocol=pickle.HIGHEST_PROTOCOL), level=6)
    for memories in (True, False):
        with pytest.raises(SnapshotFormatError, match="untagged snapshot format"):
            ModelBundle.restore(older, memories=memories)


def test_a_snapshot_of_the_previous_detector_is_refused_unread(
    trained: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """crmstream.bundle/2 snapshots hold the earlier emerging-need detector: refused before
    their models are unpickled (an unpickling here would fail the test)."""
    _, models, memories = pickle.loads(trained.snapshot())
    previous = pickle.dumps(("crmstream.bundle/2", models, memories))
    assert SNAPSHOT_FORMAT == "crmstream.bundle/3"
    loads = pickle.loads
    unpickled: list[bytes] = []

    def recorded(data: bytes) -> Any:
        unpickled.append(data)
        return loads(data)

    monkeypatch.setattr(pickle, "loads", recorded)
    with pytest.raises(SnapshotFormatError, match=r"'crmstream\.bundle/2'.*crmstream\.bundle/3"):
        ModelBundle.restore(previous)
    assert unpickled == [previous]  # the envelope only


def test_the_version_keeps_its_place_in_the_pickle(trained: ModelBundle) -> None:
    """ModelBundle.version is read-only, but its value stays where older code reads it
    (the instance's dict), so workers of the previous release read new snapshots."""
    _, models, _ = pickle.loads(trained.snapshot())
    assert vars(pickle.loads(zlib.decompress(models)))["version"] == trained.version == 200
    with pytest.raises(AttributeError):
        trained.version = 0  # type: ignore[misc]


def test_an_unknown_format_is_refused(trained: ModelBundle) -> None:
    _, models, memories = pickle.loads(trained.snapshot())
    with pytest.raises(ValueError, match="unknown snapshot format"):
        ModelBundle.restore(pickle.dumps(("crmstream.bundle/9", models, memories)))
