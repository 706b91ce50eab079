"""Emerging needs: online clustering of unlabelled inbound texts, and alerts on new clusters.

Texts are clustered by River's :class:`~river.cluster.TextClust` (micro-clusters of term
frequencies, TF-IDF cosine distance, faded over the number of texts seen), which keeps
memory bounded: a micro-cluster that stops receiving texts fades and is dropped after
about ``tgap`` texts when it is a singleton, later when it is larger. Measured on the
airline tweets (5,000 texts): with a fixed radius of 0.6-0.7 it found readable topics
("customer service", "thank", "dm sent follow") at 1-2.6 ms a text; its automatic radius
(``auto_r``) merged everything into one cluster; DBSTREAM and CluStream work on dense
numeric vectors, a poor fit for sparse text.

Each cluster is described by its top terms (term frequency in the cluster x IDF across
clusters). An :class:`EmergingNeedEvent` is emitted when a *new* cluster (first seen
fewer than ``max_age`` texts ago) has at least ``min_size`` texts in the last ``window``
texts and grew at least ``growth`` fold against the window before (``(recent + 1) /
(previous + 1)``), at most once per ``cooldown`` per cluster. Clusters first seen during
the ``warmup`` (the first texts) are the established topics, never emerging.

The learner clusters a bounded sample of the texts the need model cannot place
(:func:`sample`, at most ``models.bundle.EMERGING_SAMPLE`` per training message), so
all counts above (``window``, ``min_size``, ``warmup``) are counts of clustered texts:
a topic keeps its share of the stream in the sample, and a burst is found from its
share, later in wall-clock time the busier the stream is.

>>> from models.features import Example
>>> detector = EmergingNeeds(window=20, min_size=5, warmup=20)
>>> for i in range(40):
...     detector.learn_one(Example(["where is my parcel", "refund my order"][i % 2]))
>>> detector.drain_events()
[]
>>> for i in range(10):
...     detector.learn_one(Example("app crashes at login screen"))
>>> [event.top_terms[:3] for event in detector.drain_events()]
[['app', 'crashes', 'login']]
"""

from __future__ import annotations

import heapq
import math
import zlib
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from river import cluster

from models.features import Example, term_counts
from models.keywords import is_keyword_candidate
from models.protocol import BaseOnlineModel
from streams.internals import textclust_closest_micro_cluster

__all__ = ["ClusterSummary", "EmergingNeedEvent", "EmergingNeeds", "sample"]


def sample(keys: Sequence[str], k: int) -> list[int]:
    """The positions of at most ``k`` of ``keys`` (event ids), in their original order.

    Chosen by a hash of the key (CRC-32; the ``k`` smallest): the same events whichever
    process or replay picks them, spread evenly over the stream whatever its order (an
    evenly spaced stride would see only one side of two interleaved sources), and each
    text equally likely. Clustering is the costliest step of learning, so the learner
    clusters a bounded sample of each training message; the clusters see the same mix
    of topics, the emerging-need rules count within that sample.

    >>> sample(["a", "b", "c", "d"], 2), sample(["a", "b"], 5)
    ([1, 2], [0, 1])
    """
    if len(keys) <= k:
        return list(range(len(keys)))
    if k <= 0:
        return []
    ranked = heapq.nsmallest(k, range(len(keys)), key=lambda i: (zlib.crc32(keys[i].encode()), i))
    return sorted(ranked)


class _TextClust(cluster.TextClust):
    """River's TextClust with its two hot loops written tighter; the same numbers.

    Every text is compared with every micro-cluster: River computes each
    cluster's TF-IDF norm even when the cluster shares no term with the text
    (distance 1, never the closest) and rebuilds the IDF with a Python loop per
    term. Here only clusters sharing a term are measured and the document
    frequencies come from a Counter: same assignments, a fraction of the time.
    """

    def _calculate_idf(self, micro_clusters: Any) -> dict[str, float]:
        clusters = list(micro_clusters)
        frequency: Counter[str] = Counter()
        for micro in clusters:
            frequency.update(micro.tf.keys())
        n = len(clusters)
        return {term: 1 + math.log(n / count) for term, count in frequency.items()}

    def _get_closest_mc(self, mc: Any, idf: dict[str, float], distance: Any) -> tuple[Any, float]:
        if self.auto_r or distance.type != "tfidf_cosine_distance":
            return textclust_closest_micro_cluster(self, mc, idf, distance)
        text = {k: v["tf"] * idf[k] for k, v in mc.tf.items() if k in idf}
        text_norm = math.sqrt(sum(w * w for w in text.values()))
        closest, min_dist = None, 1.0
        for key, micro in self.micro_clusters.items():
            tf = micro.tf
            dot = 0.0
            for term, weight in text.items():
                entry = tf.get(term)
                if entry is not None:
                    dot += weight * (entry["tf"] * idf[term])
            if dot == 0:
                continue  # no term in common: distance 1, never the closest
            norm = math.sqrt(sum((v["tf"] * idf[k]) ** 2 for k, v in tf.items()))
            dist = round(1 - dot / (text_norm * norm), 10)
            if dist < min_dist:
                min_dist, closest = dist, key
        return (closest if min_dist < self.radius else None), min_dist


@dataclass(frozen=True)
class EmergingNeedEvent:
    """A new cluster of texts growing fast: its id, top terms, size and growth factor."""

    cluster_id: int
    top_terms: list[str]
    size: int
    growth: float
    recent: int = 0
    at: int = 0


@dataclass(frozen=True)
class ClusterSummary:
    """A live cluster: size since it was first seen, texts in the last window, growth."""

    cluster_id: int
    top_terms: list[str]
    size: int
    recent: int
    growth: float
    born: int


class EmergingNeeds(BaseOnlineModel[Example, int | None]):
    """Online text clustering with emerging-cluster events.

    ``learn_one(x)`` clusters an inbound text (outbound ones are ignored); new events are
    kept (the last ``max_events``) until :meth:`drain_events`; :meth:`update` learns and
    returns the event it raised, if any. ``predict_one(x)`` is the id of the nearest
    cluster within ``radius``, or ``None``.
    """

    name = "emerging"

    def __init__(
        self,
        *,
        radius: float = 0.65,
        fading_factor: float = 0.002,
        tgap: int = 100,
        window: int = 200,
        min_size: int = 10,
        growth: float = 3.0,
        max_age: int | None = None,
        warmup: int | None = None,
        cooldown: int | None = None,
        n_terms: int = 5,
        max_events: int = 100,
    ) -> None:
        super().__init__()
        self.radius = radius
        self.window = window
        self.min_size = min_size
        self.growth = growth
        self.max_age = 2 * window if max_age is None else max_age
        self.warmup = 2 * window if warmup is None else warmup
        self.cooldown = window if cooldown is None else cooldown
        self.n_terms = n_terms
        self.clusterer: Any = _TextClust(  # type: ignore[no-untyped-call]
            radius=radius,
            fading_factor=fading_factor,
            tgap=tgap,
            real_time_fading=False,
            auto_r=False,
            auto_merge=True,
        )
        self._arrivals: dict[int, deque[int]] = {}
        self._size: dict[int, int] = {}
        self._born: dict[int, int] = {}
        self._emitted: dict[int, int] = {}
        self.events: deque[EmergingNeedEvent] = deque(maxlen=max_events)

    # -- clustering ---------------------------------------------------------------------------

    @staticmethod
    def _tf(x: Example) -> dict[str, float]:
        return term_counts(t for t in x.tokens if is_keyword_candidate(t))

    def _idf(self) -> dict[str, float]:
        micro = self.clusterer.micro_clusters
        df: dict[str, int] = {}
        for mc in micro.values():
            for term in mc.tf:
                df[term] = df.get(term, 0) + 1
        return {t: 1.0 + math.log(len(micro) / d) for t, d in df.items()}

    def top_terms(self, cluster_id: int, idf: dict[str, float] | None = None) -> list[str]:
        """The cluster's most characteristic terms (tf in the cluster x idf across clusters)."""
        return [t for t, _ in self._weighted_terms(cluster_id, idf)]

    def _weighted_terms(
        self, cluster_id: int, idf: dict[str, float] | None = None
    ) -> list[tuple[str, float]]:
        mc = self.clusterer.micro_clusters.get(cluster_id)
        if mc is None:
            return []
        idf = self._idf() if idf is None else idf
        weights = [(t, float(v["tf"]) * idf.get(t, 1.0)) for t, v in mc.tf.items()]
        weights.sort(key=lambda tw: tw[1], reverse=True)
        return [(t, round(w, 4)) for t, w in weights[: self.n_terms]]

    def _nearest(self, tf: dict[str, float]) -> tuple[int | None, float]:
        idf = self._idf()
        vec = {t: c * idf[t] for t, c in tf.items() if t in idf}
        norm = math.sqrt(sum(v * v for v in vec.values()))
        best: int | None = None
        best_distance = 1.0
        if not norm:
            return None, best_distance
        for key, mc in self.clusterer.micro_clusters.items():
            dot = 0.0
            mc_norm = 0.0
            for term, entry in mc.tf.items():
                weight = float(entry["tf"]) * idf.get(term, 1.0)
                mc_norm += weight * weight
                if term in vec:
                    dot += weight * vec[term]
            if mc_norm:
                distance = 1.0 - dot / (norm * math.sqrt(mc_norm))
                if distance < best_distance:
                    best, best_distance = key, distance
        return best, best_distance

    # -- protocol -----------------------------------------------------------------------------

    def predict_one(self, x: Example) -> int | None:
        cluster_id, distance = self._nearest(self._tf(x))
        return cluster_id if distance < self.radius else None

    def explain_one(self, x: Example) -> dict[str, float]:
        """The top terms of the cluster ``x`` falls in, with their weights."""
        cluster_id = self.predict_one(x)
        return {} if cluster_id is None else dict(self._weighted_terms(cluster_id))

    def _learn_one(self, x: Example, y: Any) -> None:
        """Cluster an inbound text (``y`` is ignored); see :meth:`update`."""
        self._cluster(x, self._version + 1)

    def update(self, x: Example) -> EmergingNeedEvent | None:
        """:meth:`learn_one` ``x``, and return the event it raised, if any (also kept in
        ``events``).

        Every call counts in :attr:`version`, even for an outbound or empty text, which is
        not clustered.
        """
        event = self._cluster(x, self._version + 1)
        self._version += 1
        return event

    def _cluster(self, x: Example, step: int) -> EmergingNeedEvent | None:
        """Cluster ``x`` as the ``step``-th text learned; the event it raised, if any."""
        if x.direction == "outbound":
            return None
        tf = self._tf(x)
        if not tf:
            return None
        micro = self.clusterer.micro_clusters
        before = {key: mc.n for key, mc in micro.items()}
        self.clusterer.learn_one(tf)
        micro = self.clusterer.micro_clusters
        new = [key for key in micro if key not in before]
        if new:
            cluster_id: int | None = new[0]
        else:
            cluster_id = next((k for k, mc in micro.items() if mc.n != before.get(k)), None)
        if self.clusterer.last_cleanup == self.clusterer.t:
            alias = self._reconcile(step)
            if cluster_id is not None and cluster_id not in micro:
                cluster_id = alias.get(cluster_id)
        if cluster_id is None or cluster_id not in micro:
            return None
        self._arrivals.setdefault(cluster_id, deque()).append(step)
        self._size[cluster_id] = self._size.get(cluster_id, 0) + 1
        self._born.setdefault(cluster_id, step)
        return self._check(cluster_id, step)

    def _counts(self, cluster_id: int, step: int) -> tuple[int, int]:
        arrivals = self._arrivals.get(cluster_id, deque())
        while arrivals and arrivals[0] <= step - 2 * self.window:
            arrivals.popleft()
        recent = sum(1 for s in arrivals if s > step - self.window)
        return recent, len(arrivals) - recent

    def _check(self, cluster_id: int, step: int) -> EmergingNeedEvent | None:
        recent, previous = self._counts(cluster_id, step)
        growth = (recent + 1) / (previous + 1)
        if (
            self._born[cluster_id] <= self.warmup
            or recent < self.min_size
            or growth < self.growth
            or step - self._born[cluster_id] > self.max_age
            or step - self._emitted.get(cluster_id, -self.cooldown - 1) <= self.cooldown
        ):
            return None
        self._emitted[cluster_id] = step
        event = EmergingNeedEvent(
            cluster_id=cluster_id,
            top_terms=self.top_terms(cluster_id),
            size=self._size[cluster_id],
            growth=round(growth, 3),
            recent=recent,
            at=step,
        )
        self.events.append(event)
        return event

    def _reconcile(self, step: int) -> dict[int, int]:
        """After TextClust's clean-up: follow merged clusters, forget dropped ones."""
        micro = self.clusterer.micro_clusters
        alias = {old: key for key, mc in micro.items() for old in mc.merged_ids}
        for old in [key for key in self._arrivals if key not in micro]:
            arrivals = self._arrivals.pop(old)
            size = self._size.pop(old, 0)
            born = self._born.pop(old, step)
            emitted = self._emitted.pop(old, None)
            target = alias.get(old)
            if target is None or target not in micro:
                continue
            merged = sorted([*self._arrivals.get(target, ()), *arrivals])
            self._arrivals[target] = deque(merged)
            self._size[target] = self._size.get(target, 0) + size
            self._born[target] = min(self._born.get(target, born), born)
            if emitted is not None:
                self._emitted[target] = max(self._emitted.get(target, emitted), emitted)
        for key, mc in micro.items():
            mc.merged_ids.clear()  # bounded: the aliases were just applied
            self._counts(key, step)
        return alias

    def clusters(self, top: int = 10) -> list[ClusterSummary]:
        """The live clusters with the most texts in the last window."""
        step = self._version
        idf = self._idf()
        summaries = []
        for key in self.clusterer.micro_clusters:
            if key not in self._size:
                continue
            recent, previous = self._counts(key, step)
            summaries.append(
                ClusterSummary(
                    cluster_id=key,
                    top_terms=self.top_terms(key, idf),
                    size=self._size[key],
                    recent=recent,
                    growth=round((recent + 1) / (previous + 1), 3),
                    born=self._born[key],
                )
            )
        summaries.sort(key=lambda s: (s.recent, s.size), reverse=True)
        return summaries[:top]

    def drain_events(self) -> list[EmergingNeedEvent]:
        """The events raised since the last call, oldest first."""
        events = list(self.events)
        self.events.clear()
        return events
