"""Windowed, mergeable aggregates of communications, per (dimension, key): the alerts' input.

Pure: no Kafka, no Faust, no clock. Time is *event* time (``occurred_at``) in epoch
milliseconds, so a replay computes exactly what the live run computed. This module
holds the aggregate, the window geometry and a key's windows and baselines.

The flow: a batch of records becomes a few pre-aggregated
:class:`streams.deltas.Delta` values (one per dimension, key and step-aligned bucket),
which travel over Kafka keyed by :func:`streams.deltas.delta_key`; the owner of that
key merges each delta into its :class:`KeyWindows` (its data per bucket, from which
each open window is summed, and the baselines learned from closed windows).

>>> spec = WindowSpec(size_s=600, step_s=60, grace_s=120)   # 10 min windows every minute
>>> state = KeyWindows()
>>> ten = 1_767_261_600_000                                 # 2026-01-01 10:00 UTC
>>> _ = state.add(spec.bucket(ten + 5_000), Aggregate.for_rating(0.2), spec)
>>> _ = state.add(spec.bucket(ten + 30_000), Aggregate.for_rating(0.6), spec)
>>> start, end, current = state.current(spec)
>>> from_ms(start).time(), from_ms(end).time(), current.metric("rated_satisfaction")
(datetime.time(9, 51), datetime.time(10, 1), 0.4)
>>> len(state.windows(spec)), len(state.buckets)            # every window holding 10:00
(10, 1)
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

__all__ = [
    "DIMENSIONS",
    "METRICS",
    "Aggregate",
    "Baseline",
    "Dimension",
    "KeyWindows",
    "Metric",
    "WindowSpec",
    "buckets_from_windows",
    "from_ms",
    "to_ms",
]

Dimension = Literal["customer", "agent", "channel", "need"]
DIMENSIONS: tuple[Dimension, ...] = get_args(Dimension)

Metric = Literal[
    "satisfaction",
    "rated_satisfaction",
    "volume",
    "negative_share",
    "negative_volume",
    "response_time_s",
    "urgency",
]
METRICS: tuple[Metric, ...] = get_args(Metric)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def to_ms(at: datetime) -> int:
    """Epoch milliseconds of an aware datetime (integer arithmetic: no float rounding).

    >>> to_ms(datetime(2026, 1, 1, 10, 0, 0, 999_999, tzinfo=UTC))
    1767261600999
    """
    return (at - EPOCH) // _MS


def from_ms(ms: int) -> datetime:
    """The aware UTC datetime of epoch milliseconds.

    >>> from_ms(1767261600000).isoformat()
    '2026-01-01T10:00:00+00:00'
    """
    return EPOCH + ms * _MS


# Short wire names of Aggregate's fields: a key's state holds up to ten windows of these.
_SHORT = {
    "volume": "v",
    "predicted_sum": "ps",
    "predicted_n": "pn",
    "rated_sum": "rs",
    "rated_n": "rn",
    "negative_n": "nn",
    "sentiment_n": "sn",
    "response_sum_s": "ts",
    "response_n": "tn",
    "urgency_max": "um",
    "urgency_n": "un",
}
_LONG = {short: name for name, short in _SHORT.items()}
_COUNTS = frozenset(
    short for name, short in _SHORT.items() if name.endswith("_n") or name == "volume"
)
_COUNTS_AND_SUMS = tuple(name for name in _SHORT if name != "urgency_max")


@dataclass(slots=True)
class Aggregate:
    """A mergeable summary of communications, ratings and response times.

    Counts and sums only (plus a max), so merging is associative and commutative and a
    window's aggregate does not depend on the order its deltas arrived in.

    >>> a = Aggregate.for_message(satisfaction=0.2, sentiment="negative", urgency=0.9)
    >>> a.merge(Aggregate.for_message(satisfaction=0.6, sentiment="neutral", urgency=0.1))
    ... # doctest: +ELLIPSIS
    Aggregate(volume=2, predicted_sum=0.8, predicted_n=2, ...)
    >>> a.metric("satisfaction"), a.metric("negative_share"), a.metric("urgency")
    (0.4, 0.5, 0.9)
    >>> a.metric("rated_satisfaction"), a.samples("rated_satisfaction")
    (None, 0)
    >>> a.to_dict()
    {'v': 2, 'ps': 0.8, 'pn': 2, 'nn': 1, 'sn': 2, 'um': 0.9, 'un': 2}
    >>> Aggregate.from_dict(a.to_dict()) == a
    True
    """

    volume: int = 0  # inbound messages counted
    predicted_sum: float = 0.0  # predicted satisfaction, 0 worst .. 1 best
    predicted_n: int = 0
    rated_sum: float = 0.0  # customers' ratings, normalized to 0..1
    rated_n: int = 0
    negative_n: int = 0  # messages with negative sentiment ...
    sentiment_n: int = 0  # ... of those with any sentiment
    response_sum_s: float = 0.0  # first-response times, in seconds
    response_n: int = 0
    urgency_max: float | None = None  # None: no urgency seen
    urgency_n: int = 0

    @classmethod
    def for_message(
        cls,
        satisfaction: float | None = None,
        sentiment: str | None = None,
        urgency: float | None = None,
    ) -> Aggregate:
        """One inbound message, with whatever the models said about it."""
        return cls(
            volume=1,
            predicted_sum=satisfaction if satisfaction is not None else 0.0,
            predicted_n=int(satisfaction is not None),
            negative_n=int(sentiment == "negative"),
            sentiment_n=int(sentiment is not None),
            urgency_max=urgency,
            urgency_n=int(urgency is not None),
        )

    @classmethod
    def for_rating(cls, score: float) -> Aggregate:
        """One rating, normalized to 0 (worst) .. 1 (best)."""
        return cls(rated_sum=score, rated_n=1)

    @classmethod
    def for_response(cls, seconds: float) -> Aggregate:
        """One first-response time."""
        return cls(response_sum_s=seconds, response_n=1)

    def merge(self, other: Aggregate) -> Aggregate:
        """Add ``other`` into this aggregate (in place) and return it."""
        self.volume += other.volume
        self.predicted_sum += other.predicted_sum
        self.predicted_n += other.predicted_n
        self.rated_sum += other.rated_sum
        self.rated_n += other.rated_n
        self.negative_n += other.negative_n
        self.sentiment_n += other.sentiment_n
        self.response_sum_s += other.response_sum_s
        self.response_n += other.response_n
        if other.urgency_max is not None and (
            self.urgency_max is None or other.urgency_max > self.urgency_max
        ):
            self.urgency_max = other.urgency_max
        self.urgency_n += other.urgency_n
        return self

    def copy(self) -> Aggregate:
        return Aggregate().merge(self)

    def is_empty(self) -> bool:
        return self == Aggregate()

    def metric(self, name: Metric) -> float | None:
        """The metric's value, or None when nothing was counted for it."""
        match name:
            case "satisfaction":
                return self.predicted_sum / self.predicted_n if self.predicted_n else None
            case "rated_satisfaction":
                return self.rated_sum / self.rated_n if self.rated_n else None
            case "volume":
                return float(self.volume)
            case "negative_share":
                return self.negative_n / self.sentiment_n if self.sentiment_n else None
            case "negative_volume":
                return float(self.negative_n)
            case "response_time_s":
                return self.response_sum_s / self.response_n if self.response_n else None
            case "urgency":
                return self.urgency_max
        raise ValueError(f"unknown metric {name!r}")

    def samples(self, name: Metric) -> int:
        """How many observations the metric's value stands on (rules need enough of them)."""
        match name:
            case "satisfaction":
                return self.predicted_n
            case "rated_satisfaction":
                return self.rated_n
            case "volume":
                return self.volume
            case "negative_share" | "negative_volume":
                return self.sentiment_n
            case "response_time_s":
                return self.response_n
            case "urgency":
                return self.urgency_n
        raise ValueError(f"unknown metric {name!r}")

    def to_dict(self) -> dict[str, float | int]:
        """Compact and JSON-able: short keys, zeros left out."""
        out: dict[str, float | int] = {}
        for name, short in _SHORT.items():
            value = getattr(self, name)
            # urgency_max 0.0 is a real maximum, so only None is left out for it.
            if value is not None and (value != 0 or name == "urgency_max"):
                out[short] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Aggregate:
        """Inverse of :meth:`to_dict`; raises ValueError on unknown keys or bad values.

        >>> Aggregate.from_dict({"rn": -1})
        Traceback (most recent call last):
        ...
        ValueError: aggregate field 'rn' must be a count (int >= 0), got -1
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"aggregate must be an object, got {type(data).__name__}")
        values: dict[str, Any] = {}
        for short, value in data.items():
            name = _LONG.get(short)
            if name is None:
                raise ValueError(f"unknown aggregate field {short!r}")
            # Exact types (a bool is no count): every window of every key passes here.
            kind = type(value)
            if short in _COUNTS:
                if kind is not int or value < 0:
                    raise ValueError(
                        f"aggregate field {short!r} must be a count (int >= 0), got {value!r}"
                    )
            elif kind is int:
                value = float(value)
            elif kind is not float or not math.isfinite(value):
                raise ValueError(f"aggregate field {short!r} must be a number, got {value!r}")
            values[name] = value
        return cls(**values)


@dataclass(frozen=True)
class WindowSpec:
    """Window geometry: tumbling (``step_s == size_s``) or hopping (``step_s < size_s``).

    Windows start at multiples of the step (from the epoch). Time is cut into
    step-long *buckets*: every moment of one bucket belongs to the same windows.
    A window ``[start, end)`` closes once the watermark reaches ``end + grace``.

    >>> hop = WindowSpec(size_s=600, step_s=60)
    >>> hop.bucket(90_000), hop.window_starts(120_000)[:3], len(hop.window_starts(120_000))
    (60000, [-420000, -360000, -300000], 10)
    >>> hop.current(610_000)       # the full window [60 s, 660 s) ends soonest after 610 s
    60000
    >>> WindowSpec(size_s=600, step_s=70)
    Traceback (most recent call last):
    ...
    ValueError: window size (600000 ms) must be a multiple of its step (70000 ms)
    """

    size_s: float
    step_s: float
    grace_s: float = 0.0
    baseline_alpha: float = 0.2

    def __post_init__(self) -> None:
        if self.size_ms <= 0 or self.step_ms <= 0:
            raise ValueError(
                f"window size and step must be positive, got {self.size_s} s and {self.step_s} s"
            )
        if self.size_ms % self.step_ms:
            raise ValueError(
                f"window size ({self.size_ms} ms) must be a multiple of its step "
                f"({self.step_ms} ms)"
            )
        if self.grace_ms < 0:
            raise ValueError(f"grace must not be negative, got {self.grace_s} s")
        if not 0 < self.baseline_alpha <= 1:
            raise ValueError(f"baseline_alpha must be in (0, 1], got {self.baseline_alpha}")

    @classmethod
    def tumbling(
        cls, size_s: float, grace_s: float = 0.0, baseline_alpha: float = 0.2
    ) -> WindowSpec:
        return cls(size_s, size_s, grace_s, baseline_alpha)

    @property
    def size_ms(self) -> int:
        return round(self.size_s * 1000)

    @property
    def step_ms(self) -> int:
        return round(self.step_s * 1000)

    @property
    def grace_ms(self) -> int:
        return round(self.grace_s * 1000)

    @property
    def hopping(self) -> bool:
        return self.step_ms < self.size_ms

    def bucket(self, at_ms: int) -> int:
        """The start of the step-aligned bucket holding ``at_ms``."""
        return at_ms - at_ms % self.step_ms

    def window_starts(self, bucket_ms: int) -> list[int]:
        """The starts of every window containing the bucket, oldest first."""
        bucket = self.bucket(bucket_ms)
        return list(range(bucket - self.size_ms + self.step_ms, bucket + 1, self.step_ms))

    def current(self, watermark_ms: int) -> int:
        """The oldest window still containing the watermark (for hopping windows: the
        full-length window ending soonest after it, which holds the most data)."""
        return self.bucket(watermark_ms) - self.size_ms + self.step_ms

    def end(self, start_ms: int) -> int:
        return start_ms + self.size_ms

    def closed(self, start_ms: int, watermark_ms: int) -> bool:
        """Whether the window starting at ``start_ms`` is past its grace at this watermark."""
        return start_ms + self.size_ms + self.grace_ms <= watermark_ms


@dataclass(slots=True)
class Baseline:
    """Exponentially weighted mean and variance of a metric over closed windows.

    >>> b = Baseline()
    >>> for x in (0.8, 0.8, 0.6):
    ...     b.update(x, alpha=0.5)
    >>> round(b.mean, 3), round(b.std, 3), b.n
    (0.7, 0.1, 3)
    """

    mean: float = 0.0
    var: float = 0.0
    n: int = 0  # windows learned

    def update(self, x: float, alpha: float) -> None:
        # The first window is the mean; then the incremental EWMA/EWMV (Finch, 2009).
        if self.n == 0:
            self.mean, self.var = x, 0.0
        else:
            diff = x - self.mean
            step = alpha * diff
            self.mean += step
            self.var = (1 - alpha) * (self.var + diff * step)
        self.n += 1

    @property
    def std(self) -> float:
        return math.sqrt(max(self.var, 0.0))

    def to_dict(self) -> dict[str, float | int]:
        return {"m": self.mean, "v": self.var, "n": self.n}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Baseline:
        try:
            return cls(mean=float(data["m"]), var=float(data["v"]), n=int(data["n"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad baseline {data!r}: {exc}") from exc


@dataclass(slots=True)
class KeyWindows:
    """The state of one (dimension, key): its data per bucket and its learned baselines.

    Data is kept per step-long *bucket*, not per window: a hopping window's aggregate
    is the sum of its buckets, summed when a rule reads the current window or when a
    window closes. So a delta is merged once, not into each of the ``size / step``
    windows holding it, and a key's state is that many times smaller (a customer
    seen once holds one bucket instead of ten windows). A bucket is kept while a
    window holding it is open, so memory per key is bounded by ``(size + grace) /
    step`` buckets. The watermark is the newest bucket seen (event time, step-granular).

    >>> spec = WindowSpec.tumbling(60)
    >>> state = KeyWindows()
    >>> closed = state.add(0, Aggregate.for_rating(0.5), spec)
    >>> closed = state.add(60_000, Aggregate.for_rating(0.9), spec)   # closes [0, 60 s)
    >>> [start for start, _ in closed], state.baselines["rated_satisfaction"].mean
    ([0], 0.5)
    >>> _ = state.add(0, Aggregate.for_rating(0.1), spec)              # too late
    >>> state.late_dropped, state.to_dict()  # doctest: +ELLIPSIS
    (1, {'k': {'60000': {'rs': 0.9, 'rn': 1}}, 'wm': 60000, 'b': {...}, 'late': 1})
    """

    buckets: dict[int, Aggregate] = field(default_factory=dict)
    watermark_ms: int | None = None
    baselines: dict[Metric, Baseline] = field(default_factory=dict)
    late_dropped: int = 0

    def add(
        self,
        bucket_ms: int,
        delta: Aggregate,
        spec: WindowSpec,
        frozen: Collection[Metric] = frozenset(),
        learn: Collection[Metric] = METRICS,
    ) -> list[tuple[int, Aggregate]]:
        """Merge ``delta`` into its bucket (so into every open window holding it), then
        close the windows the new watermark closes.

        A window is closed once ``end + grace <= watermark``; closing folds its metrics
        (those with samples) into the baselines of the metrics in ``learn`` except those
        in ``frozen``. A delta that reaches no open window is counted in
        :attr:`late_dropped`. Returns the closed windows, oldest first.
        """
        bucket = spec.bucket(bucket_ms)
        before = self.watermark_ms
        # The newest window holding the bucket starts at it: if that one is closed, all are.
        if before is not None and spec.closed(bucket, before):
            self.late_dropped += 1
            return []
        held = self.buckets.get(bucket)
        if held is None:
            self.buckets[bucket] = delta.copy()
        else:
            held.merge(delta)
        if before is not None and bucket <= before:
            return []  # the watermark stays: nothing more is closed
        self.watermark_ms = bucket
        return self._close(spec, before, frozen, learn)

    def _close(
        self,
        spec: WindowSpec,
        before: int | None,
        frozen: Collection[Metric],
        learn: Collection[Metric],
    ) -> list[tuple[int, Aggregate]]:
        """Close the windows (holding data) that the watermark's move from ``before`` closed."""
        if before is None:
            return []  # the first data: every window holding it is open
        assert self.watermark_ms is not None
        size, step, reach = spec.size_ms, spec.step_ms, spec.size_ms + spec.grace_ms
        limit = self.watermark_ms - reach  # windows starting at or before it are closed
        low = before - reach  # windows starting at or before it were closed already
        starts = {
            start
            for held in self.buckets
            for start in range(held - size + step, min(held, limit) + 1, step)
            if start > low
        }
        closed = [(start, self._window(start, size)) for start in sorted(starts)]
        for _, aggregate in closed:
            for metric in learn:
                value = aggregate.metric(metric)
                if metric in frozen or value is None or aggregate.samples(metric) == 0:
                    continue
                self.baselines.setdefault(metric, Baseline()).update(value, spec.baseline_alpha)
        for held in [held for held in self.buckets if held <= limit]:
            del self.buckets[held]  # every window holding it is closed
        return closed

    def _window(self, start: int, size: int) -> Aggregate:
        """The aggregate of the window ``[start, start + size)``: its buckets, oldest first."""
        total = Aggregate()
        for held in sorted(self.buckets):
            if start <= held < start + size:
                total.merge(self.buckets[held])
        return total

    def windows(self, spec: WindowSpec) -> dict[int, Aggregate]:
        """The open windows holding data, by start (each window's aggregate summed)."""
        if self.watermark_ms is None:
            return {}
        limit = self.watermark_ms - spec.size_ms - spec.grace_ms
        starts = {
            start
            for held in self.buckets
            for start in range(held - spec.size_ms + spec.step_ms, held + 1, spec.step_ms)
            if start > limit
        }
        return {start: self._window(start, spec.size_ms) for start in sorted(starts)}

    def current(self, spec: WindowSpec) -> tuple[int, int, Aggregate]:
        """Start, end and aggregate of the current window (empty before any data)."""
        start = spec.current(self.watermark_ms if self.watermark_ms is not None else 0)
        return start, spec.end(start), self._window(start, spec.size_ms)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "k": {str(held): agg.to_dict() for held, agg in sorted(self.buckets.items())}
        }
        if self.watermark_ms is not None:
            out["wm"] = self.watermark_ms
        if self.baselines:
            out["b"] = {metric: b.to_dict() for metric, b in sorted(self.baselines.items())}
        if self.late_dropped:
            out["late"] = self.late_dropped
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], spec: WindowSpec | None = None) -> KeyWindows:
        """Inverse of :meth:`to_dict`. State written per window (``"w"``, before buckets)
        is converted with ``spec`` (see :func:`buckets_from_windows`)."""
        try:
            watermark = data.get("wm")
            watermark = int(watermark) if watermark is not None else None
            if "w" in data:
                if spec is None:
                    raise ValueError("window state written per window needs its WindowSpec")
                windows = {int(s): Aggregate.from_dict(a) for s, a in data["w"].items()}
                buckets = buckets_from_windows(windows, watermark, spec)
            else:
                buckets = {int(b): Aggregate.from_dict(a) for b, a in data.get("k", {}).items()}
            baselines: dict[Metric, Baseline] = {}
            for metric, b in data.get("b", {}).items():
                if metric not in METRICS:
                    raise ValueError(f"unknown metric {metric!r}")
                baselines[metric] = Baseline.from_dict(b)
            return cls(
                buckets=buckets,
                watermark_ms=watermark,
                baselines=baselines,
                late_dropped=int(data.get("late", 0)),
            )
        except (AttributeError, TypeError) as exc:
            raise ValueError(f"bad window state: {exc}") from exc


def buckets_from_windows(
    windows: Mapping[int, Aggregate], watermark_ms: int | None, spec: WindowSpec
) -> dict[int, Aggregate]:
    """Buckets from state kept per window (written before buckets), so an upgrade keeps
    each key's open windows.

    Every open window is the sum of its buckets, so from the newest start down each
    bucket is its window minus the next window plus the bucket that window gained
    at its far end: counts and sums come back exactly (up to float rounding). A
    maximum cannot be subtracted: a bucket takes its window's maximum, which gives
    every window from the current one on its exact maximum (older windows, in
    their grace, may read a higher one).

    >>> spec = WindowSpec(size_s=180, step_s=60)
    >>> state = KeyWindows()
    >>> for minute, score in ((0, 0.5), (1, 1.0), (1, 0.0), (2, 0.25)):
    ...     _ = state.add(minute * 60_000, Aggregate.for_rating(score), spec)
    >>> rebuilt = buckets_from_windows(state.windows(spec), state.watermark_ms, spec)
    >>> rebuilt == state.buckets
    True
    """
    if watermark_ms is None or not windows:
        return {}
    size, step = spec.size_ms, spec.step_ms
    buckets: dict[int, Aggregate] = {}
    newest = spec.bucket(watermark_ms)
    oldest = min(windows)
    for start in range(newest, oldest - 1, -step):
        window = windows.get(start, Aggregate())
        bucket = window.copy()
        _subtract(bucket, windows.get(start + step, Aggregate()))
        if start + size in buckets:
            bucket.merge(buckets[start + size])
        bucket.urgency_max = window.urgency_max if bucket.urgency_n else None
        if not bucket.is_empty():
            buckets[start] = bucket
    return {start: buckets[start] for start in sorted(buckets)}


def _subtract(total: Aggregate, part: Aggregate) -> None:
    """Take ``part``'s counts and sums out of ``total`` (in place; not the maximum)."""
    for name in _COUNTS_AND_SUMS:
        setattr(total, name, getattr(total, name) - getattr(part, name))
