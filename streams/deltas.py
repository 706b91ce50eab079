"""Deltas: what a batch adds to one (dimension, key) in one bucket, and their wire codec.

Pure: the scoring agents turn a batch of communications, ratings or a response time
into a few pre-aggregated :class:`Delta` values, which travel over Kafka keyed by
:func:`delta_key` as the compact JSON of :func:`encode_delta`; the owner of the key
merges each into its :class:`streams.aggregates.KeyWindows`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from schemas.events import FeedbackEvent, ScoredCommunication
from streams.aggregates import DIMENSIONS, Aggregate, Dimension, WindowSpec, to_ms
from streams.conversations import Turn

__all__ = [
    "Delta",
    "decode_delta",
    "delta_from_dict",
    "delta_key",
    "deltas_from_communications",
    "deltas_from_feedback",
    "deltas_from_response",
    "encode_delta",
]


@dataclass(frozen=True)
class Delta:
    """What a batch adds to one (dimension, key) in one bucket."""

    dimension: Dimension
    key: str
    bucket_ms: int
    aggregate: Aggregate


_DIMENSION_RANK: dict[str, int] = {dimension: i for i, dimension in enumerate(DIMENSIONS)}


class _Deltas:
    """Pre-aggregates contributions per (dimension, key, bucket) across a batch."""

    def __init__(self, spec: WindowSpec) -> None:
        self.spec = spec
        self.sums: dict[tuple[Dimension, str, int], Aggregate] = {}

    def add(self, at_ms: int, keys: Mapping[Dimension, str | None], part: Aggregate) -> None:
        bucket = self.spec.bucket(at_ms)
        for dimension, key in keys.items():
            if key:
                self.sums.setdefault((dimension, key, bucket), Aggregate()).merge(part)

    def deltas(self) -> list[Delta]:
        # Oldest bucket first, so a consumer applying them in order sees time move forward.
        rank = _DIMENSION_RANK
        order = sorted(self.sums, key=lambda k: (k[2], rank[k[0]], k[1]))
        return [Delta(d, key, bucket, self.sums[d, key, bucket]) for d, key, bucket in order]


def deltas_from_communications(
    records: Iterable[ScoredCommunication], spec: WindowSpec
) -> list[Delta]:
    """Deltas for a batch of scored communications.

    Only *inbound* messages count: volume measures customer demand (a need surge is
    about customers), and satisfaction, sentiment and urgency describe the customer's
    mood, which an agent's outbound reply does not. Outbound messages matter for
    response time only (see :func:`answer`).
    """
    batch = _Deltas(spec)
    for r in records:
        if r.direction != "inbound":
            continue
        part = Aggregate.for_message(r.satisfaction, r.sentiment, r.urgency)
        keys: dict[Dimension, str | None] = {
            "customer": r.customer_id,
            "agent": r.agent_id,
            "channel": r.channel.value,
            "need": r.need,
        }
        batch.add(to_ms(r.occurred_at), keys, part)
    return batch.deltas()


def deltas_from_feedback(records: Iterable[FeedbackEvent], spec: WindowSpec) -> list[Delta]:
    """Deltas for a batch of ratings (feedback carries no channel)."""
    batch = _Deltas(spec)
    for r in records:
        keys: dict[Dimension, str | None] = {
            "customer": r.customer_id,
            "agent": r.agent_id,
            "need": r.need,
        }
        batch.add(to_ms(r.occurred_at), keys, Aggregate.for_rating(r.normalized_score()))
    return batch.deltas()


def deltas_from_response(
    pending: Turn, outbound: Turn, seconds: float, spec: WindowSpec
) -> list[Delta]:
    """Deltas for one response time, in the bucket of the reply.

    It belongs to the replying agent (or the agent the inbound message was assigned to)
    and to the waiting customer, channel and need.

    >>> spec = WindowSpec.tumbling(60)
    >>> asked = Turn("cv1", "inbound", 10_000, "c1", None, "email", "refund")
    >>> replied = Turn("cv1", "outbound", 70_000, "c1", "a7", "email", None)
    >>> [(d.dimension, d.key, d.bucket_ms) for d in deltas_from_response(asked, replied, 60, spec)]
    [('customer', 'c1', 60000), ('agent', 'a7', 60000), ('channel', 'email', 60000), \
('need', 'refund', 60000)]
    """
    batch = _Deltas(spec)
    keys: dict[Dimension, str | None] = {
        "customer": pending.customer_id,
        "agent": outbound.agent_id or pending.agent_id,
        "channel": pending.channel,
        "need": pending.need,
    }
    batch.add(outbound.at_ms, keys, Aggregate.for_response(seconds))
    return batch.deltas()


def delta_key(dimension: Dimension, key: str) -> bytes:
    """The Kafka key of a delta: every delta of one (dimension, key) on one partition.

    >>> delta_key("agent", "a17")
    b'agent:a17'
    """
    return f"{dimension}:{key}".encode()


def encode_delta(delta: Delta) -> bytes:
    """A delta as compact JSON.

    >>> encode_delta(Delta("agent", "a17", 60000, Aggregate.for_rating(0.25)))
    b'{"dim":"agent","key":"a17","bucket":60000,"agg":{"rs":0.25,"rn":1}}'
    """
    return orjson.dumps(
        {
            "dim": delta.dimension,
            "key": delta.key,
            "bucket": delta.bucket_ms,
            "agg": delta.aggregate.to_dict(),
        }
    )


def decode_delta(data: bytes) -> Delta:
    """Inverse of :func:`encode_delta`; raises ValueError saying what is wrong.

    >>> decode_delta(b'{"dim":"agent","key":"a17","bucket":60000,"agg":{"rn":1,"rs":0.25}}')
    ... # doctest: +ELLIPSIS
    Delta(dimension='agent', key='a17', bucket_ms=60000, aggregate=Aggregate(...rated_n=1...))
    >>> decode_delta(b'{"dim":"planet","key":"x","bucket":0,"agg":{}}')
    Traceback (most recent call last):
    ...
    ValueError: bad delta: dimension 'planet' is not one of customer, agent, channel, need
    """
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"bad delta: not JSON ({exc})") from exc
    return delta_from_dict(raw)


def delta_from_dict(raw: Any) -> Delta:
    """A delta from its decoded JSON (:func:`decode_delta` without the parsing)."""
    if not isinstance(raw, dict):
        raise ValueError(f"bad delta: expected a JSON object, got {type(raw).__name__}")
    missing = {"dim", "key", "bucket", "agg"} - raw.keys()
    if missing:
        raise ValueError(f"bad delta: missing {', '.join(sorted(missing))}")
    dimension, key, bucket = raw["dim"], raw["key"], raw["bucket"]
    if dimension not in DIMENSIONS:
        raise ValueError(
            f"bad delta: dimension {dimension!r} is not one of {', '.join(DIMENSIONS)}"
        )
    if not isinstance(key, str) or not key:
        raise ValueError(f"bad delta: key must be a non-empty string, got {key!r}")
    if not isinstance(bucket, int) or isinstance(bucket, bool):
        raise ValueError(f"bad delta: bucket must be integer milliseconds, got {bucket!r}")
    try:
        aggregate = Aggregate.from_dict(raw["agg"])
    except ValueError as exc:
        raise ValueError(f"bad delta: {exc}") from exc
    return Delta(dimension, key, bucket, aggregate)
