"""Emerging needs: a topic no known need explains raises one event, a known one never does;
its statistics are count-aware; memory stays bounded."""

from __future__ import annotations

import random

from models.emerging import EmergingNeeds, binomial_cdf, poisson_tail
from models.features import Example

BACKGROUND = [
    ["where", "is", "my", "parcel", "delivery", "late", "courier", "tracking"],
    ["refund", "money", "back", "return", "item", "broken", "order", "please"],
    ["invoice", "charged", "twice", "bill", "amount", "wrong", "payment", "card"],
    ["login", "password", "reset", "account", "locked", "sign", "in", "code"],
]
NEEDS = ["delivery", "refund", "billing", "access"]
BURST = ["app", "crashes", "update", "version", "startup", "screen", "black", "after"]


def sentence(rng: random.Random, words: list[str], direction: str = "inbound") -> Example:
    return Example(" ".join(rng.sample(words, 5)), direction=direction)


def known_traffic(detector: EmergingNeeds, rng: random.Random, n: int, start: float) -> float:
    """Half labelled, half unlabelled texts of the known needs, one a minute."""
    at = start
    for i in range(n):
        topic = rng.randrange(len(BACKGROUND))
        need = NEEDS[topic] if i % 2 else None
        event = detector.observe(sentence(rng, BACKGROUND[topic]), need=need, key=f"k{at}", at=at)
        assert event is None, event
        at += 60
    return at


def test_a_new_topic_raises_one_event_with_what_a_team_needs() -> None:
    rng = random.Random(7)
    detector = EmergingNeeds()
    at = known_traffic(detector, rng, 800, 0.0)
    assert detector.drain_events() == []  # known traffic, labelled or not, never alerts
    events = []
    for i in range(300):
        words = BURST if i % 10 == 0 else rng.choice(BACKGROUND)  # 10 % of traffic
        need = None if words is BURST or i % 2 else NEEDS[BACKGROUND.index(words)]
        event = detector.observe(
            sentence(rng, words), need=need, key=f"n{i}", at=at, proba={"refund": 0.4, "x": 0.3}
        )
        events += [event] if event else []
        at += 60
    assert len(events) == 1
    [event] = events
    assert event.kind == "new" and set(event.top_terms) <= set(BURST)
    assert event.recent >= detector.min_size and event.known == 0 and event.p_value < 1e-3
    assert 3 <= len(event.examples) <= 5 and all(
        e["event_id"].startswith("n") for e in event.examples
    )
    assert event.needs == {"refund": 1.0}  # what the need model calls them
    assert sum(event.hourly) == event.size and event.cluster_id.startswith("emerging-")
    assert detector.predict_one(sentence(rng, BURST)) == event.cluster_id
    assert detector.drain_events() == events


def test_confident_predictions_count_as_known() -> None:
    rng = random.Random(3)
    detector = EmergingNeeds()
    at = known_traffic(detector, rng, 800, 0.0)
    for i in range(60):  # a new wording the need model places with a wide margin
        event = detector.observe(
            sentence(rng, BURST), key=f"c{i}", at=at, proba={"refund": 0.9, "billing": 0.05}
        )
        assert event is None
        at += 60


def test_nothing_alerts_during_the_warm_up_in_stream_time() -> None:
    rng = random.Random(5)
    detector = EmergingNeeds(warmup_s=3600, warmup_labels=0)
    for i in range(50):  # fifty texts within the first 50 seconds
        assert detector.observe(sentence(rng, BURST), key=f"w{i}", at=float(i)) is None


def test_outbound_texts_are_ignored() -> None:
    rng = random.Random(3)
    detector = EmergingNeeds()
    known_traffic(detector, rng, 400, 0.0)
    clustered = detector.clustered
    for i in range(30):
        assert detector.observe(sentence(rng, BURST, "outbound"), at=30_000.0 + i) is None
    assert detector.clustered == clustered
    assert detector.predict_one(sentence(rng, BURST)) is None


def test_a_label_on_the_cluster_makes_it_known() -> None:
    rng = random.Random(7)
    detector = EmergingNeeds()
    at = known_traffic(detector, rng, 800, 0.0)
    events = []
    for i in range(40):
        events.append(detector.observe(sentence(rng, BURST), key=f"b{i}", at=at))
        at += 60
    [event] = [e for e in events if e]
    members = detector.label_cluster(event.cluster_id, "app_crash")
    assert set(members) <= {f"b{i}" for i in range(40)} and len(members) >= detector.min_size
    at += 2 * detector.window_s
    for i in range(40):
        assert detector.observe(sentence(rng, BURST), key=f"a{i}", at=at) is None
        at += 60


def test_counts_decide_not_ratios() -> None:
    # Three times the expected count on a handful of texts is noise; on many it is not.
    assert poisson_tail(10, 10 / 3) > 1e-3
    assert poisson_tail(90, 30) < 1e-12
    # No known text among 4 is nothing; among 20 it is, when half the traffic is known.
    assert binomial_cdf(0, 4, 0.5) > 0.05
    assert binomial_cdf(0, 20, 0.5) < 1e-5


def test_memory_is_bounded() -> None:
    rng = random.Random(5)
    vocabulary = [f"w{i}" for i in range(3000)]
    detector = EmergingNeeds(max_clusters=50, max_terms=2000)
    for i in range(1500):
        detector.observe(Example(" ".join(rng.sample(vocabulary, 6))), key=f"m{i}", at=i * 60.0)
        assert len(detector.clusters) <= 50
    assert len(detector.df) <= 2000
    assert all(len(c.members) <= 256 and len(c.examples) <= 5 for c in detector.clusters.values())
    assert len(detector.window) <= 24 * 60 + 1
