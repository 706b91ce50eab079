"""The benchmark's events: airline tweets and generated conversations, encoded once.

The tweets are mapped exactly as the README's ``crmstream replay`` command maps
them (:data:`AIRLINE_MAPPING`, time order); the generator adds communications
and feedback in English and Chinese. Both are interleaved and repeated with
fresh event ids (``-r1``, ``-r2``, ...) up to the wanted count, and encoded to
the exact Kafka values once, so every stage reads the same bytes.

>>> a = [{"event_id": "t1"}, {"event_id": "t2"}]
>>> [e["event_id"] for e in interleave(a, [{"event_id": "g1"}])]
['t1', 'g1', 't2']
>>> event = BenchEvent.of("communication", {"event_id": "e1", "customer_id": "c1"})
>>> event.key, event.renamed("-r2").event_id
(b'c1', 'e1-r2')
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import orjson

from crmstream.generator import EventGenerator
from crmstream.replay import RowMapping, plan_replay

Kind = Literal["communication", "feedback"]

# The README's replay of ../shared/datasets/airline_tweets/Tweets.csv, as a mapping.
AIRLINE_MAPPING = RowMapping(
    kind="communication",
    fields={
        "event_id": "tweet_id",
        "text": "text",
        "occurred_at": "tweet_created",
        "need": "negativereason",
        "customer_id": "airline",
    },
    constants={"channel": "social", "direction": "inbound"},
    metadata=("airline_sentiment",),
    timezone="America/Los_Angeles",
)
# Generated events when there is no dataset; with one, as many as there are tweets.
GENERATED_WITHOUT_DATASET = 20_000
# The generator's own start, unless that is not comfortably in the past.
GENERATOR_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class BenchEvent:
    """One input message: which topic (by kind), its key and its exact value bytes."""

    kind: Kind
    event_id: str
    key: bytes | None
    value: bytes

    @classmethod
    def of(cls, kind: Kind, value: dict[str, Any]) -> BenchEvent:
        """Encode an event as ``crmstream generate --produce`` and ``replay`` do (keyed by
        customer, JSON value)."""
        customer = str(value.get("customer_id", ""))
        return cls(kind, str(value["event_id"]), customer.encode() or None, orjson.dumps(value))

    def renamed(self, suffix: str) -> BenchEvent:
        """The same event under a fresh id (``event_id`` + ``suffix``)."""
        value = orjson.loads(self.value)
        value["event_id"] = f"{value['event_id']}{suffix}"
        return BenchEvent.of(self.kind, value)


@dataclass(frozen=True)
class EventSet:
    """The benchmark's events and where they came from."""

    events: list[BenchEvent]
    airline: int  # distinct tweets in one round
    generated: int  # generated events in one round
    rounds: int  # how many times the base set was used (with fresh ids after the first)
    dataset: str | None

    @property
    def communications(self) -> int:
        return sum(1 for e in self.events if e.kind == "communication")

    def describe(self) -> dict[str, Any]:
        total = len(self.events)
        communications = self.communications
        return {
            "total": total,
            "communications": communications,
            "feedback": total - communications,
            "airline_tweets_per_round": self.airline,
            "generated_per_round": self.generated,
            "rounds": self.rounds,
            "mean_value_bytes": round(sum(len(e.value) for e in self.events) / max(total, 1), 1),
            "dataset": self.dataset,
        }


def resolve_dataset(path: Path | None) -> Path | None:
    """The tweets file for ``--dataset`` (a folder holding ``Tweets.csv``, or a file);
    None when it is not there."""
    if path is None:
        return None
    if path.is_dir():
        candidates = [path / "Tweets.csv", *sorted(path.glob("*.csv"))]
        return next((c for c in candidates if c.is_file()), None)
    return path if path.is_file() else None


def airline_events(path: Path) -> list[dict[str, Any]]:
    """The tweets as communications, mapped like the README's replay, in time order.

    The file repeats some tweets (same ``tweet_id``); each id is kept once.
    """
    plan = plan_replay(path, AIRLINE_MAPPING, order="time")
    seen: set[str] = set()
    unique = []
    for event in plan.events:
        if event["event_id"] not in seen:
            seen.add(event["event_id"])
            unique.append(event)
    return unique


def generated_events(seed: int, count: int, *, now: datetime | None = None) -> list[BenchEvent]:
    """``count`` generated communications and feedback (the generator's own mix)."""
    now = now or datetime.now(UTC)
    start = min(GENERATOR_START, now - timedelta(days=30))  # never in the future
    return [BenchEvent.of(e.kind, e.value) for e in EventGenerator(seed, start=start).events(count)]


def interleave(first: Sequence[Any], second: Sequence[Any]) -> list[Any]:
    """Both sequences merged evenly, each keeping its own order."""
    keyed = [((i + 0.5) / len(first), 0, i) for i in range(len(first))]
    keyed += [((i + 0.5) / len(second), 1, i) for i in range(len(second))]
    return [(first, second)[which][i] for _, which, i in sorted(keyed)]


def repeated(base: Sequence[BenchEvent], count: int) -> Iterator[BenchEvent]:
    """``count`` events cycling through ``base``; round ``r`` > 0 gets ids suffixed ``-r<r>``."""
    if not base:
        raise ValueError("no events to repeat")
    for n in range(count):
        rounds, i = divmod(n, len(base))
        yield base[i] if rounds == 0 else base[i].renamed(f"-r{rounds}")


def build_event_set(
    count: int, dataset: Path | None, *, seed: int = 0, now: datetime | None = None
) -> EventSet:
    """At least ``count`` events (exactly ``count``): tweets and generated events, interleaved."""
    tweets = [BenchEvent.of("communication", e) for e in airline_events(dataset)] if dataset else []
    generated = generated_events(seed, len(tweets) or GENERATED_WITHOUT_DATASET, now=now)
    base = interleave(tweets, generated) if tweets else generated
    events = list(repeated(base, count))
    return EventSet(
        events=events,
        airline=len(tweets),
        generated=len(generated),
        rounds=-(-count // len(base)),
        dataset=str(dataset) if dataset else None,
    )
