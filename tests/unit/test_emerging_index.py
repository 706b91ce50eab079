"""The emerging-need detector's term -> clusters index gives the same answers as comparing
each text with each cluster, which is what it replaced (kept here as the reference)."""

from __future__ import annotations

import pickle
import random
from collections.abc import Mapping

import pytest

from models.emerging import EmergingNeedEvent, EmergingNeeds, _Cluster
from models.features import Example

LETTERS = "abcdefghijklmnopqrstuvwxyz"
TOPICS = [[f"topic{LETTERS[topic]}{LETTERS[i]}" for i in range(10)] for topic in range(6)]
NOISE = [f"noise{a}{b}" for a in LETTERS[:4] for b in LETTERS[:10]]


class CompareEach(EmergingNeeds):
    """The detector before the index: every text and every absorbing cluster is compared
    with every cluster in turn (their own dot product, IDFs recomputed per term)."""

    def _dot(self, terms: Mapping[str, float], other: Mapping[str, float]) -> float:
        dot = 0.0
        for term, weight in terms.items():
            theirs = other.get(term)
            if theirs is not None:
                dot += weight * theirs * self._idf(term) ** 2
        return dot

    def _nearest(self, unit: Mapping[str, float]) -> tuple[_Cluster | None, float]:
        norm = self._norm(unit)
        best, best_similarity = None, 0.0
        if not norm:
            return best, best_similarity
        for cluster in self.clusters.values():
            dot = self._dot(unit, cluster.terms)
            if dot <= 0:
                continue
            if not cluster.norm:
                cluster.norm = self._norm(cluster.terms)
            similarity = dot / (norm * cluster.norm)
            if similarity > best_similarity:
                best, best_similarity = cluster, similarity
        return best, best_similarity

    def _absorb(self, cluster: _Cluster) -> None:
        norm = self._norm(cluster.terms)
        for other in list(self.clusters.values()):
            if other is cluster or other.label is not None or not norm:
                continue
            if not other.norm:
                other.norm = self._norm(other.terms)
            if self._dot(cluster.terms, other.terms) < self.merge * norm * other.norm:
                continue
            self._merge(cluster, other)
            norm = self._norm(cluster.terms)
        self._trim(cluster)
        cluster.norm = 0.0


def stream(seed: int, n: int) -> list[tuple[Example, str | None, str, float]]:
    """Texts of a few topics with noise words, some repeated word for word (equally similar
    clusters), half of the common topics labelled, a topic that appears late unlabelled."""
    rng = random.Random(seed)
    texts: list[tuple[Example, str | None, str, float]] = []
    for i in range(n):
        topic = rng.randrange(5 if i < n // 2 else 6)
        words = rng.sample(TOPICS[topic], rng.randint(2, 5)) + rng.sample(NOISE, rng.randint(0, 2))
        if texts and rng.random() < 0.05:
            example = texts[rng.randrange(len(texts))][0]
        else:
            example = Example(" ".join(words))
        need = f"need{topic}" if topic < 5 and rng.random() < 0.5 else None
        texts.append((example, need, f"e{i}", i * 60.0))
    return texts


def state(detector: EmergingNeeds) -> list[tuple[object, ...]]:
    return [
        (c.cluster_id, list(c.terms.items()), c.size, c.norm, list(c.members), c.alerted)
        for c in detector.clusters.values()
    ]


@pytest.mark.parametrize("max_clusters", [25, 6])
@pytest.mark.parametrize("seed", range(4))
def test_the_index_answers_as_comparing_each_cluster(seed: int, max_clusters: int) -> None:
    """Merges, evictions at the cap (6 is often full), ties and alerts, step by step."""
    settings = dict(
        join=0.25, merge=0.35, min_size=4, warmup_s=0, warmup_labels=5, window_s=6 * 3600,
        max_clusters=max_clusters, min_df=1,
    )  # fmt: skip
    indexed, reference = EmergingNeeds(**settings), CompareEach(**settings)  # type: ignore[arg-type]
    events: list[EmergingNeedEvent] = []
    full = 0
    for i, (x, need, key, at) in enumerate(stream(seed, 1500)):
        proba = {"need0": 0.5, "need1": 0.3}
        event = indexed.observe(x, need=need, key=key, at=at, proba=proba)
        assert event == reference.observe(x, need=need, key=key, at=at, proba=proba)
        events += [event] if event else []
        full += len(indexed.clusters) == max_clusters
        assert indexed.predict_one(x) == reference.predict_one(x)
        if i % 100 == 0:
            assert state(indexed) == state(reference)
            assert indexed._postings == indexed._index()  # the index mirrors the centroids
        if i == 700:  # a restored detector rebuilds its index and goes on the same
            indexed = pickle.loads(pickle.dumps(indexed))
    assert state(indexed) == state(reference)
    if max_clusters == 25:
        assert events  # the late topic was found: the comparison covered alerts too
    else:
        assert full > 100  # and evictions


def test_the_index_is_not_in_a_snapshot() -> None:
    detector = EmergingNeeds(min_df=1)
    for x, need, key, at in stream(0, 200):
        detector.observe(x, need=need, key=key, at=at)
    assert "_postings" not in detector.__getstate__()
    restored = pickle.loads(pickle.dumps(detector))
    assert restored._postings == detector._postings and restored._postings


def test_of_equally_similar_clusters_the_oldest_wins() -> None:
    detector = EmergingNeeds(join=1.5)  # nothing is similar enough: every text founds one
    for i in range(8):
        detector.observe(Example("alpha beta gamma"), key=f"same{i}", at=float(i))
    assert len(detector.clusters) == 8
    detector.join = 0.3
    oldest = next(iter(detector.clusters))
    assert detector.predict_one(Example("gamma alpha beta")) == oldest
    detector.observe(Example("alpha beta gamma"), key="again", at=9.0)
    assert detector.clusters[oldest].size == 2
