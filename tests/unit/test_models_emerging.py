"""Emerging needs: a synthetic burst of a new topic raises one event; memory stays bounded."""

from __future__ import annotations

import random

from models.emerging import EmergingNeeds
from models.features import Example

BACKGROUND = [
    ["where", "is", "my", "parcel", "delivery", "late", "courier", "tracking"],
    ["refund", "money", "back", "return", "item", "broken", "order", "please"],
    ["invoice", "charged", "twice", "bill", "amount", "wrong", "payment", "card"],
    ["login", "password", "reset", "account", "locked", "sign", "in", "code"],
]
BURST = ["app", "crashes", "update", "version", "startup", "screen", "black", "after"]


def sentence(rng: random.Random, words: list[str]) -> Example:
    return Example(" ".join(rng.sample(words, 5)))


def test_burst_of_a_new_topic_raises_an_event() -> None:
    rng = random.Random(7)
    detector = EmergingNeeds(window=100, min_size=8, growth=3.0)
    for _ in range(600):
        detector.learn_one(sentence(rng, rng.choice(BACKGROUND)))
    assert detector.drain_events() == []  # established topics never alert

    events = []
    for i in range(120):
        words = BURST if i % 3 == 0 else rng.choice(BACKGROUND)
        event = detector.update(sentence(rng, words))
        if event is not None:
            events.append(event)
    assert len(events) >= 1
    first = events[0]
    assert set(first.top_terms) <= set(BURST) and len(first.top_terms) >= 3
    assert first.size >= 8 and first.recent >= 8
    assert first.growth >= 3.0
    # The cluster is found again for a new text of the burst, and explained by its terms.
    probe = sentence(rng, BURST)
    assert detector.predict_one(probe) == first.cluster_id
    assert set(detector.explain_one(probe)) <= set(BURST)
    assert detector.clusters(top=1)[0].cluster_id == first.cluster_id
    assert detector.drain_events() == events  # update() also keeps them


def test_no_event_without_a_burst_and_outbound_is_ignored() -> None:
    rng = random.Random(3)
    detector = EmergingNeeds(window=100, min_size=8)
    for _ in range(800):
        detector.learn_one(sentence(rng, rng.choice(BACKGROUND)))
    version = detector.version
    for _ in range(30):
        x = Example(" ".join(BURST), direction="outbound")
        assert detector.update(x) is None
    assert detector.version == version + 30
    assert detector.drain_events() == []
    assert detector.predict_one(Example(" ".join(BURST))) is None


def test_memory_is_bounded() -> None:
    rng = random.Random(5)
    vocabulary = [f"w{i}" for i in range(3000)]
    detector = EmergingNeeds(window=50, tgap=50)
    for _ in range(1500):
        detector.learn_one(Example(" ".join(rng.sample(vocabulary, 6))))
        assert len(detector.clusterer.micro_clusters) < 400
    tracked = sum(len(arrivals) for arrivals in detector._arrivals.values())
    assert tracked <= 2 * detector.window + len(detector.clusterer.micro_clusters)
    assert len(detector._size) <= len(detector.clusterer.micro_clusters)
