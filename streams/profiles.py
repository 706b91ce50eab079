"""Customer profiles and segments: the arithmetic, without I/O.

The scoring agents turn each communication and rating into a :class:`Contact`
(who, when, which channel and need, what the models and the customer said) and
publish them keyed by customer; :mod:`agents.customers` folds them into the
customer's profile (:func:`fold`) and places the customer in a segment
(:class:`Segmenter`).

A profile is a plain JSON-able dict (it lives in a changelogged table). It
remembers, per input partition, the newest offset it has folded in: a contact at
or below it was counted already (a replay, or a batch delivered again after a
crash) and is skipped, so nothing is counted twice.

>>> config = ProfileConfig()
>>> first = Contact("c1", "communications:0", 7, 86_400_000, channel="phone",
...                 direction="inbound", need="refund", satisfaction=0.2, urgency=0.9,
...                 conversation_id="k1")
>>> profile, applied = fold(None, [first, first], config)
>>> applied, profile["contacts"], profile["needs"], profile["open"]
(1, {'phone:inbound': 1}, {'refund': 1}, {'k1': 86400000})
>>> reply = Contact("c1", "communications:0", 9, 86_460_000, channel="phone",
...                 direction="outbound", conversation_id="k1")
>>> rating = Contact("c1", "feedback:2", 3, 86_500_000, rating=0.25, conversation_id="k1")
>>> profile, applied = fold(profile, [reply, rating, reply], config)
>>> applied, profile["open"], profile["folded"]
(2, {}, {'communications:0': 9, 'feedback:2': 3})
>>> summary(profile, config)["satisfaction_rated_mean"]
0.25
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml
from river.cluster import KMeans

from crmstream.errors import CrmstreamError
from crmstream.generator import NEEDS  # the taxonomy the default features count
from schemas.events import Channel, FeedbackEvent, ScoredCommunication
from streams.alert_config import parse_duration

DAY_MS = 86_400_000
CONFIG_FILE = Path(__file__).resolve().parents[1] / "config" / "customers.yml"


@dataclass(frozen=True)
class Feature:
    """One group of segmentation features: ``values`` (shares of needs or channels) or a
    single number (``satisfaction``), and its weight in the distance."""

    name: str
    weight: float = 1.0
    values: tuple[str, ...] = ()


class ProfileConfigError(CrmstreamError, ValueError):
    """``config/customers.yml`` cannot be read, is not YAML, or holds a value out of range
    or of the wrong type."""


@dataclass(frozen=True)
class ProfileConfig:
    """``config/customers.yml``."""

    recent_alpha: float = 0.2
    urgency_days: int = 7
    max_open: int = 20
    max_seen_events: int = 500
    idle_ms: int = 30 * DAY_MS
    update_every_s: float = 5.0
    segments: int = 4
    min_contacts: int = 5
    warmup: int = 100
    halflife: float = 0.02
    seed: int = 17
    switch_ratio: float = 0.7
    features: tuple[Feature, ...] = (
        Feature("needs", 1.0, NEEDS),
        Feature("channels", 1.0, tuple(channel.value for channel in Channel)),
        Feature("satisfaction", 0.5),
    )

    def __post_init__(self) -> None:
        if not 0 < self.recent_alpha <= 1:
            raise ProfileConfigError("recent.alpha must be in (0, 1]")
        if self.segments < 1 or self.min_contacts < 1 or self.warmup < self.segments:
            raise ProfileConfigError("segments.count, min_contacts >= 1 and warmup >= count")
        if self.update_every_s <= 0:
            raise ProfileConfigError("state.update_every must be positive")
        if not 0 < self.switch_ratio <= 1:
            raise ProfileConfigError("segments.switch_ratio must be in (0, 1]")
        unknown = {f.name for f in self.features} - {"needs", "channels", "satisfaction"}
        if unknown:
            raise ProfileConfigError(f"unknown segment features {sorted(unknown)}")

    @classmethod
    def load(cls, path: Path = CONFIG_FILE) -> ProfileConfig:
        """Read the YAML file; missing entries keep their defaults.

        >>> ProfileConfig.load().segments
        4
        """
        try:
            return cls._parse(yaml.safe_load(path.read_text()) or {})
        except (OSError, yaml.YAMLError, TypeError, ValueError, AttributeError) as error:
            # One line that names the file: the worker stops on it before any work.
            raise ProfileConfigError(f"{path}: {error}") from None

    @classmethod
    def _parse(cls, spec: dict[str, Any]) -> ProfileConfig:
        recent, segments, state = (spec.get(k) or {} for k in ("recent", "segments", "state"))
        values: dict[str, Any] = {}
        for key, name in (("alpha", "recent_alpha"), ("urgency_days", "urgency_days")):
            if key in recent:
                values[name] = recent[key]
        if "max_open_conversations" in recent:
            values["max_open"] = int(recent["max_open_conversations"])
        if "max_seen_events" in state:
            values["max_seen_events"] = int(state["max_seen_events"])
        for key in ("min_contacts", "warmup", "halflife", "seed", "switch_ratio"):
            if key in segments:
                values[key] = segments[key]
        if "count" in segments:
            values["segments"] = int(segments["count"])
        if "features" in segments:
            values["features"] = tuple(
                Feature(name, float(f.get("weight", 1.0)), tuple(f.get("values") or ()))
                for name, f in segments["features"].items()
            )
        if "idle" in state:
            values["idle_ms"] = int(parse_duration(state["idle"]) * 1000)
        if "update_every" in state:
            values["update_every_s"] = parse_duration(state["update_every"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Contact:
    """One communication or rating of a customer, as a profile counts it.

    ``source`` names the input partition (``"communications:3"``) and ``offset`` the
    message on it: together they make folding idempotent. A rating has ``rating``
    (normalized to [0, 1]) and no channel.
    """

    customer_id: str
    source: str
    offset: int
    at_ms: int
    channel: str | None = None
    direction: str | None = None
    need: str | None = None
    satisfaction: float | None = None
    urgency: float | None = None
    conversation_id: str | None = None
    rating: float | None = None
    event_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Without the empty fields (they are the defaults).

        >>> Contact("c1", "feedback:0", 4, 1000, rating=0.5).to_dict()
        {'customer_id': 'c1', 'source': 'feedback:0', 'offset': 4, 'at_ms': 1000, 'rating': 0.5}
        >>> Contact.from_dict(_) == Contact("c1", "feedback:0", 4, 1000, rating=0.5)
        True
        """
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) is not None}

    def keyed(self) -> tuple[bytes, bytes]:
        """As a Kafka record: the customer id and the JSON (see :func:`streams.sinks.packed`)."""
        return self.customer_id.encode(), orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Contact:
        try:
            return cls(**{k: data[k] for k in cls.__slots__ if k in data})
        except TypeError as error:
            raise ValueError(f"not a contact: {error}") from error


def communication_contact(record: ScoredCommunication) -> tuple[bytes, bytes]:
    """What a profile counts of a scored communication, as a keyed Kafka record (the
    :class:`Contact`'s JSON): the models' views on inbound messages only. The source is
    the base topic's name (no namespace) and the partition.

    Built straight as JSON: it runs for every communication on the worker's path.
    """
    source = record.source
    value: dict[str, Any] = {
        "customer_id": record.customer_id,
        "source": f"communications:{source.partition}",
        "offset": source.offset,
        "at_ms": int(record.occurred_at.timestamp() * 1000),
        "channel": record.channel.value,
        "direction": record.direction.value,
        "event_id": record.event_id,
    }
    if record.conversation_id is not None:
        value["conversation_id"] = record.conversation_id
    if record.direction == "inbound":
        for name, field_value in (
            ("need", record.need),
            ("satisfaction", record.satisfaction),
            ("urgency", record.urgency),
        ):
            if field_value is not None:
                value[name] = field_value
    return record.customer_id.encode(), orjson.dumps(value)


def contact_from_rating(rating: FeedbackEvent, partition: int, offset: int) -> Contact:
    """What a profile counts of a rating read at ``partition``/``offset`` of the feedback topic."""
    return Contact(
        customer_id=rating.customer_id,
        source=f"feedback:{partition}",
        offset=offset,
        at_ms=_epoch_ms(rating.occurred_at),
        rating=rating.normalized_score(),
        conversation_id=rating.conversation_id,
        event_id=rating.event_id,
    )


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def empty_profile(customer_id: str) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "first_ms": None,
        "last_ms": None,
        "contacts": {},
        "needs": {},
        "predicted": {"n": 0, "sum": 0.0, "recent": None},
        "rated": {"n": 0, "sum": 0.0, "recent": None},
        "urgency_days": {},
        "open": {},
        "segment": None,
        "folded": {},
        "seen": [],
    }


def fold(
    profile: dict[str, Any] | None, contacts: Iterable[Contact], config: ProfileConfig
) -> tuple[dict[str, Any], int]:
    """Fold contacts into a profile (updated in place; a new one for ``None``).

    Returns the profile and how many contacts were new to it. A contact is skipped when
    its offset is at or below the newest one folded from its source partition (the same
    messages read again: a restart, a batch delivered twice), or when its event id is
    among the profile's last ``max_seen_events`` (the same events sent again: a file
    replayed twice). Contacts are taken in offset order per source.
    """
    applied = 0
    seen: set[str] | None = None
    for contact in sorted(contacts, key=lambda c: (c.source, c.offset)):
        if profile is None:
            profile = empty_profile(contact.customer_id)
        folded = profile["folded"]
        if contact.offset <= folded.get(contact.source, -1):
            continue
        folded[contact.source] = contact.offset
        if contact.event_id is not None:
            seen = set(profile["seen"]) if seen is None else seen
            digest = event_digest(contact.event_id)
            if digest in seen:
                continue
            seen.add(digest)
            profile["seen"].append(digest)
        _fold_one(profile, contact, config)
        applied += 1
    if profile is None:
        raise ValueError("no profile and no contacts to start one")
    if len(profile["seen"]) > config.max_seen_events:
        del profile["seen"][: -config.max_seen_events]
    return profile, applied


def event_digest(event_id: str) -> str:
    """A short, stable stand-in for an event id (48 bits: collisions are negligible
    among one customer's events).

    >>> event_digest("e1")
    'fcb3209c5d09'
    """
    return hashlib.blake2b(event_id.encode(), digest_size=6).hexdigest()


def _fold_one(profile: dict[str, Any], contact: Contact, config: ProfileConfig) -> None:
    at = contact.at_ms
    profile["first_ms"] = at if profile["first_ms"] is None else min(profile["first_ms"], at)
    profile["last_ms"] = at if profile["last_ms"] is None else max(profile["last_ms"], at)
    if contact.rating is not None:
        _mean_add(profile["rated"], contact.rating, config.recent_alpha)
        if contact.conversation_id is not None:
            profile["open"].pop(contact.conversation_id, None)  # rated: it is over
        return
    if contact.channel is not None:
        key = f"{contact.channel}:{contact.direction or 'inbound'}"
        profile["contacts"][key] = profile["contacts"].get(key, 0) + 1
    if contact.direction == "outbound":
        if contact.conversation_id is not None:
            profile["open"].pop(contact.conversation_id, None)
        return
    if contact.need:
        profile["needs"][contact.need] = profile["needs"].get(contact.need, 0) + 1
    if contact.satisfaction is not None:
        _mean_add(profile["predicted"], contact.satisfaction, config.recent_alpha)
    if contact.urgency is not None:
        day = str(at // DAY_MS)
        days = profile["urgency_days"]
        days[day] = max(days.get(day, 0.0), contact.urgency)
        newest = int(profile["last_ms"]) // DAY_MS
        for old in [d for d in days if int(d) <= newest - config.urgency_days]:
            del days[old]
    if contact.conversation_id is not None:
        open_ = profile["open"]
        open_[contact.conversation_id] = max(open_.get(contact.conversation_id, at), at)
        if len(open_) > config.max_open:
            for conversation, _ in sorted(open_.items(), key=lambda kv: kv[1])[: -config.max_open]:
                del open_[conversation]


def _mean_add(mean: dict[str, Any], value: float, alpha: float) -> None:
    """A long-run mean (sum and count) and a recent one (exponentially weighted)."""
    mean["n"] += 1
    mean["sum"] += value
    recent = mean["recent"]
    mean["recent"] = value if recent is None else recent + alpha * (value - recent)


def contact_count(profile: Mapping[str, Any]) -> int:
    """Communications and ratings folded in."""
    return int(sum(profile["contacts"].values()) + profile["rated"]["n"])


def _mean(mean: Mapping[str, Any]) -> float | None:
    return round(mean["sum"] / mean["n"], 4) if mean["n"] else None


def _recent(mean: Mapping[str, Any]) -> float | None:
    return None if mean["recent"] is None else round(mean["recent"], 4)


def recent_urgency(profile: Mapping[str, Any], config: ProfileConfig) -> float | None:
    """The highest urgency of the ``urgency_days`` days up to the last contact."""
    if profile["last_ms"] is None:
        return None
    newest = int(profile["last_ms"]) // DAY_MS
    oldest = newest - config.urgency_days
    recent = [u for d, u in profile["urgency_days"].items() if int(d) > oldest]
    return max(recent) if recent else None


def features(profile: Mapping[str, Any], config: ProfileConfig) -> dict[str, float]:
    """The profile's segmentation features, each in [0, 1], times its weight.

    Needs and channels are shares of the customer's (inbound) messages; satisfaction is
    the rated mean where the customer rated, else the predicted mean (0.5 if neither).

    >>> p = empty_profile("c1")
    >>> p["needs"], p["contacts"] = {"refund": 3, "billing": 1}, {"phone:inbound": 4}
    >>> f = features(p, ProfileConfig())
    >>> f["needs:refund"], f["channels:phone"], f["channels:email"], f["satisfaction"]
    (0.75, 1.0, 0.0, 0.25)
    """
    result: dict[str, float] = {}
    for feature in config.features:
        if feature.name == "satisfaction":
            value = _mean(profile["rated"])
            value = _mean(profile["predicted"]) if value is None else value
            result["satisfaction"] = feature.weight * (0.5 if value is None else value)
            continue
        counts = _channel_counts(profile) if feature.name == "channels" else profile["needs"]
        total = sum(counts.values())
        for name in feature.values:
            share = counts.get(name, 0) / total if total else 0.0
            result[f"{feature.name}:{name}"] = feature.weight * share
    return result


def _channel_counts(profile: Mapping[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key, count in profile["contacts"].items():
        channel, direction = key.split(":", 1)
        if direction == "inbound":
            counts[channel] = counts.get(channel, 0) + count
    return counts


def distance(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Euclidean distance between two feature dicts (a missing feature counts 0)."""
    return math.sqrt(sum((a.get(k, 0.0) - b.get(k, 0.0)) ** 2 for k in {*a, *b}))


def describe(centre: Mapping[str, float], config: ProfileConfig) -> str:
    """A segment in words, from its centre.

    >>> c = {"needs:refund": 0.5, "needs:billing": 0.4, "needs:delivery": 0.1,
    ...      "channels:phone": 0.9, "channels:email": 0.1, "satisfaction": 0.5 * 0.2}
    >>> describe(c, ProfileConfig())
    'mostly refund and billing, low satisfaction, phone'
    """
    parts: list[str] = []
    order = {"needs": 0, "satisfaction": 1, "channels": 2}
    for feature in sorted(config.features, key=lambda f: order[f.name]):
        weight = feature.weight or 1.0
        if feature.name == "satisfaction":
            value = centre.get("satisfaction", 0.5 * weight) / weight
            level = "low" if value < 0.4 else "high" if value > 0.7 else "medium"
            parts.append(f"{level} satisfaction")
            continue
        shares = sorted(
            ((centre.get(f"{feature.name}:{v}", 0.0) / weight, v) for v in feature.values),
            reverse=True,
        )
        top = [v.replace("_", " ") for share, v in shares[:2] if share >= 0.2]
        if not top:
            parts.append(f"mixed {feature.name}")
        elif feature.name == "needs":
            parts.append("mostly " + " and ".join(top))
        else:
            parts.append(" and ".join(top))
    return ", ".join(parts)


class Segmenter:
    """Customers grouped online by their profile features (River's :class:`KMeans`).

    The first centres come from the first ``warmup`` customers' profiles: the best of
    a few seeded k-means++ starts refined by batch k-means (River's random start leaves
    segments empty, and one start alone often splits a group while merging two others).
    From then on each profile update moves its segment's centre a little (``halflife``).
    A customer keeps their segment unless another centre is clearly closer
    (``switch_ratio``), so segments do not flip on every message.

    The warm-up's customers are :attr:`unplaced` when the first centres are chosen:
    :meth:`place` gives each its segment without waiting for their next contact
    (which may never come, or come as a replay that changes nothing).
    """

    def __init__(self, config: ProfileConfig) -> None:
        self.config = config
        self.model = KMeans(n_clusters=config.segments, halflife=config.halflife, seed=config.seed)
        self._warmup: dict[str, dict[str, float]] = {}  # customer -> newest features
        #: Customers seen before the centres were chosen, still without a segment.
        self.unplaced: dict[str, dict[str, float]] = {}
        self.ready = False

    def restore(self, members: Iterable[tuple[str, str | None, dict[str, float]]]) -> None:
        """Start again from stored profiles: ``(customer, segment, features)``.

        Each stored segment's centre becomes the mean of its members, so the numbering
        survives a restart; without stored segments, the warm-up starts with these.
        """
        sums: dict[str, dict[str, float]] = {}
        counts: dict[str, int] = {}
        for customer, segment, point in members:
            if segment is None or segment not in self.ids():
                self._warmup[customer] = point
                continue
            total = sums.setdefault(segment, {})
            for key, value in point.items():
                total[key] = total.get(key, 0.0) + value
            counts[segment] = counts.get(segment, 0) + 1
        if not sums:
            self._seed_if_ready()
            return
        for segment, total in sums.items():
            self._set_centre(
                self._index(segment), {k: v / counts[segment] for k, v in total.items()}
            )
        empty = [i for i, s in enumerate(self.ids()) if s not in sums]
        taken = {s: self.centre(s) for s in sums}
        candidates = list(self._warmup.values()) or list(taken.values())
        for index, point in zip(empty, _far_apart(candidates, len(empty), taken), strict=False):
            self._set_centre(index, point)
        self.unplaced.update(self._warmup)
        self._warmup = {}
        self.ready = True

    def ids(self) -> list[str]:
        return [f"s{i + 1}" for i in range(self.config.segments)]

    def _index(self, segment: str) -> int:
        return int(segment[1:]) - 1

    def _set_centre(self, index: int, point: Mapping[str, float]) -> None:
        centre = self.model.centers[index]
        centre.clear()
        centre.update(point)

    def centre(self, segment: str) -> dict[str, float]:
        return dict(self.model.centers[self._index(segment)])

    def describe(self, segment: str) -> str:
        return describe(self.centre(segment), self.config)

    def update(self, customer: str, current: str | None, point: dict[str, float]) -> str | None:
        """Learn from one customer's features; the segment they are in (``None`` while the
        first centres are not chosen yet)."""
        if not self.ready:
            self._warmup[customer] = point
            self._seed_if_ready()
            if not self.ready:
                return None
        self.unplaced.pop(customer, None)
        nearest = int(self.model.predict_one(point))
        choice: str = self.ids()[nearest]
        if current is not None and current != choice and current in self.ids():
            here = distance(point, self.model.centers[self._index(current)])
            there = distance(point, self.model.centers[nearest])
            if there > self.config.switch_ratio * here:
                choice = current  # not clearly closer: stay
        # River's KMeans update, applied to the segment the customer stays in.
        centre = self.model.centers[self._index(choice)]
        for key, value in point.items():
            centre[key] += self.config.halflife * (value - centre[key])
        return choice

    def _seed_if_ready(self) -> None:
        if len(self._warmup) < self.config.warmup:
            return
        points = list(self._warmup.values())
        rng = random.Random(self.config.seed)
        starts = [
            _refined(_plus_plus(points, self.config.segments, rng), points) for _ in range(10)
        ]
        best = min(starts, key=lambda centres: _inertia(centres, points))
        for index, point in enumerate(best):
            self._set_centre(index, point)
        self.unplaced.update(self._warmup)
        self._warmup = {}
        self.ready = True

    def place(self, customer: str) -> str:
        """The segment of an :attr:`unplaced` customer: the nearest centre to the features
        they were last seen with (the centres learnt from them already: none moves)."""
        point = self.unplaced.pop(customer)
        return self.ids()[int(self.model.predict_one(point))]

    def drop(self, customer: str) -> None:
        """Forget a customer who is waiting for a segment (evicted or forgotten)."""
        self._warmup.pop(customer, None)
        self.unplaced.pop(customer, None)


def _plus_plus(
    points: Sequence[dict[str, float]], count: int, rng: random.Random
) -> list[dict[str, float]]:
    """k-means++ seeds: each next one drawn with probability proportional to its squared
    distance from the nearest seed so far."""
    seeds = [points[rng.randrange(len(points))]]
    while len(seeds) < min(count, len(points)):
        weights = [min(distance(p, c) for c in seeds) ** 2 for p in points]
        if sum(weights) == 0:
            break
        seeds.append(rng.choices(points, weights)[0])
    while len(seeds) < count:  # fewer distinct points than segments
        seeds.append(seeds[-1])
    return [dict(seed) for seed in seeds]


def _inertia(
    centres: Sequence[Mapping[str, float]], points: Sequence[Mapping[str, float]]
) -> float:
    return sum(min(distance(p, c) for c in centres) ** 2 for p in points)


def _far_apart(
    points: Sequence[dict[str, float]], count: int, taken: Mapping[str, Mapping[str, float]]
) -> list[dict[str, float]]:
    """``count`` points far from each other and from ``taken`` (farthest-point seeding,
    deterministic: the first point starts when nothing is taken).

    >>> _far_apart([{"x": 0.0}, {"x": 0.1}, {"x": 1.0}, {"x": 0.5}], 2, {})
    [{'x': 0.0}, {'x': 1.0}]
    """
    chosen: list[Mapping[str, float]] = list(taken.values())
    picked: list[dict[str, float]] = []
    for _ in range(min(count, len(points))):
        if not chosen:
            best = points[0]
        else:
            best = max(points, key=lambda p: min(distance(p, c) for c in chosen))
        chosen.append(best)
        picked.append(dict(best))
    return picked


def _refined(
    centres: list[dict[str, float]], points: Sequence[dict[str, float]], rounds: int = 10
) -> list[dict[str, float]]:
    """A few rounds of batch k-means (Lloyd) over the warm-up points: the far-apart seeds
    are often outliers; this moves them to the middle of their groups.

    >>> _refined([{"x": 0.0}, {"x": 3.0}], [{"x": 0.0}, {"x": 1.0}, {"x": 2.0}, {"x": 3.0}])
    [{'x': 0.5}, {'x': 2.5}]
    """
    for _ in range(rounds):
        groups: list[list[dict[str, float]]] = [[] for _ in centres]
        for point in points:
            nearest = min(range(len(centres)), key=lambda i: distance(point, centres[i]))
            groups[nearest].append(point)
        moved = [
            {k: sum(p.get(k, 0.0) for p in group) / len(group) for k in {*centre, *group[0]}}
            if group
            else centre
            for centre, group in zip(centres, groups, strict=True)
        ]
        if moved == centres:
            break
        centres = moved
    return centres


def summary(
    profile: Mapping[str, Any], config: ProfileConfig, segment_description: str | None = None
) -> dict[str, Any]:
    """The profile as indexed in ``crm-customers`` (one document per customer)."""
    by_channel: dict[str, dict[str, int]] = {}
    for key, count in profile["contacts"].items():
        channel, direction = key.split(":", 1)
        by_channel.setdefault(channel, {})[direction] = count
    needs = profile["needs"]
    return {
        "customer_id": profile["customer_id"],
        "first_contact": _iso(profile["first_ms"]),
        "last_contact": _iso(profile["last_ms"]),
        "contacts_total": sum(profile["contacts"].values()),
        "contacts_by_channel": by_channel,
        "needs": sorted(needs),
        "need_counts": dict(needs),
        "top_need": max(sorted(needs), key=lambda n: needs[n]) if needs else None,
        "satisfaction_predicted_mean": _mean(profile["predicted"]),
        "satisfaction_predicted_recent": _recent(profile["predicted"]),
        "satisfaction_rated_mean": _mean(profile["rated"]),
        "satisfaction_rated_recent": _recent(profile["rated"]),
        "ratings": profile["rated"]["n"],
        "urgency_recent_max": recent_urgency(profile, config),
        "open_conversations": len(profile["open"]),
        "segment": profile["segment"],
        "segment_description": segment_description,
    }


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def purity(assigned: Mapping[str, str | None], truth: Mapping[str, str]) -> float:
    """Share of customers whose segment's most common true group is theirs.

    >>> truth = {"a": "x", "b": "y", "c": "y", "d": "x"}
    >>> purity({"a": "s1", "b": "s1", "c": "s2", "d": None}, truth)
    0.5
    """
    members: dict[str | None, dict[str, int]] = {}
    for customer, group in truth.items():
        segment = assigned.get(customer)
        counts = members.setdefault(segment, {})
        counts[group] = counts.get(group, 0) + 1
    right = sum(max(c.values()) for s, c in members.items() if s is not None)
    return right / len(truth) if truth else 0.0


@dataclass
class SegmentHistory:
    """How often customers' segments changed between their updates (for tests and stats)."""

    last: dict[str, str | None] = field(default_factory=dict)
    updates: int = 0
    changes: int = 0

    def record(self, customer_id: str, segment: str | None) -> None:
        before = self.last.get(customer_id)
        if before is not None:
            self.updates += 1
            self.changes += segment != before
        self.last[customer_id] = segment
