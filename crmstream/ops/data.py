"""The ops page's data, without I/O: the queries it sends and the shapes it draws.

Everything here is a pure function of its arguments: Elasticsearch request
bodies and PromQL expressions to send, and functions that turn the answers into
the JSON the page renders (:mod:`crmstream.ops.server` does the sending).

Times: alerts carry the processing clock in ``fired_at`` (when the worker fired
or resolved them), so "resolved in the last hours" is wall-clock time. Charts
follow the stream's own event time: they end at the newest ``occurred_at`` in
the index, so a replay of last month looks the same as a live stream.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson

#: An alert's dimension and the communications field holding its key.
DIMENSION_FIELDS: dict[str, str] = {
    "agent": "agent_id",
    "customer": "customer_id",
    "channel": "channel",
    "need": "need",
}
#: Satisfaction over time per channel, and a click away per agent and per need.
SPLITS: dict[str, str] = {"channel": "channel", "agent": "agent_id", "need": "need"}
SEVERITY_ORDER: dict[str, int] = {"critical": 0, "warning": 1, "info": 2}

#: Charts cover at most this much event time (less when the index holds less), in
#: about this many buckets of whole minutes.
CHART_SPAN = timedelta(hours=24)
CHART_BUCKETS = 48
#: Rising needs: the newest slice of the span against the whole span.
RECENT_SPAN = timedelta(hours=3)
RISING_MIN_COUNT = 3
RISING_MIN_LIFT = 1.25
TOP_KEYS = 8
MAX_ALERTS = 500


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert episode: its firing record, and its resolution once there is one."""

    alert_id: str
    rule: str
    severity: str
    dimension: str
    key: str
    value: float
    threshold: float
    samples: int
    window_start: str
    window_end: str
    fired_at: str
    message: str
    resolved_at: str | None = None
    resolution: str | None = None
    resolved_value: float | None = None
    communications: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


# -- alerts ---------------------------------------------------------------------------


def firing_alerts_query() -> dict[str, Any]:
    """The newest firing records (each episode has exactly one)."""
    return {
        "query": {"term": {"state": "firing"}},
        "sort": [{"fired_at": "desc"}],
        "size": MAX_ALERTS,
    }


def resolutions_query(alert_ids: Sequence[str]) -> dict[str, Any]:
    """The resolution records of these episodes (ids are ``alert_id``, not document ids)."""
    return {
        "query": {
            "bool": {
                "filter": [
                    {"term": {"state": "resolved"}},
                    {"terms": {"alert_id": list(alert_ids)}},
                ]
            }
        },
        "size": max(len(alert_ids), 1),
    }


def communications_link(dimension: str, key: str, start: str, end: str) -> str:
    """The ops page's link to the communications behind an alert (its key, its window).

    >>> communications_link("agent", "agent 3", "2026-03-02T04:00:00+00:00", "t1")
    '/communications?field=agent_id&value=agent+3&from=2026-03-02T04%3A00%3A00%2B00%3A00&to=t1'
    """
    params = {"field": DIMENSION_FIELDS[dimension], "value": key, "from": start, "to": end}
    return f"/communications?{urlencode(params)}"


def pair_alerts(
    firing: Iterable[Mapping[str, Any]],
    resolved: Iterable[Mapping[str, Any]],
    *,
    resolved_since: datetime,
) -> tuple[list[Alert], list[Alert]]:
    """Episodes firing now, and those resolved at or after ``resolved_since``.

    Firing now: most severe first, then the newest. Resolved: the newest first.
    Resolutions older than ``resolved_since`` are left out.
    """
    endings = {r["alert_id"]: r for r in resolved}
    active: list[Alert] = []
    done: list[Alert] = []
    for record in firing:
        ending = endings.get(record["alert_id"])
        alert = Alert(
            alert_id=record["alert_id"],
            rule=record["rule"],
            severity=record["severity"],
            dimension=record["dimension"],
            key=record["key"],
            value=float(record["value"]),
            threshold=float(record["threshold"]),
            samples=int(record["samples"]),
            window_start=record["window_start"],
            window_end=record["window_end"],
            fired_at=record["fired_at"],
            message=record.get("message", ""),
            resolved_at=None if ending is None else ending["fired_at"],
            resolution=None if ending is None else ending.get("resolution"),
            resolved_value=None if ending is None else float(ending["value"]),
            communications=communications_link(
                record["dimension"], record["key"], record["window_start"], record["window_end"]
            ),
        )
        if ending is None:
            active.append(alert)
        elif datetime.fromisoformat(ending["fired_at"]) >= resolved_since:
            done.append(alert)
    active.sort(key=lambda a: a.fired_at, reverse=True)
    active.sort(key=lambda a: SEVERITY_ORDER.get(a.severity, len(SEVERITY_ORDER)))
    done.sort(key=lambda a: a.resolved_at or "", reverse=True)
    return active, done


# -- the communications behind an alert -----------------------------------------------


def communications_query(field: str, value: str, start: str, end: str, size: int) -> dict[str, Any]:
    """The communications with ``field == value`` from ``start`` (inclusive) to ``end``.

    ``field`` must be one of :data:`DIMENSION_FIELDS`' fields (a keyword field).
    """
    if field not in DIMENSION_FIELDS.values():
        raise ValueError(f"not a field alerts are keyed by: {field!r}")
    return {
        "query": {
            "bool": {
                "filter": [
                    {"term": {field: value}},
                    {"range": {"occurred_at": {"gte": start, "lt": end}}},
                ]
            }
        },
        "sort": [{"occurred_at": "asc"}],
        "size": size,
        "source_excludes": ["text_terms"],
        "track_total_hits": True,
    }


def kql(field: str, value: str, start: str, end: str) -> str:
    """The same search for Kibana's search bar.

    >>> kql("agent_id", "agent-3", "2026-03-02T04:00:00Z", "2026-03-02T05:00:00Z")
    ... # doctest: +NORMALIZE_WHITESPACE
    'agent_id : "agent-3" and occurred_at >= "2026-03-02T04:00:00Z"
     and occurred_at < "2026-03-02T05:00:00Z"'
    """
    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{field} : "{quoted}" and occurred_at >= "{start}" and occurred_at < "{end}"'


# -- charts from the communications index ---------------------------------------------


def extent_query() -> dict[str, Any]:
    """The oldest and newest event times in the index: the charts end at the newest."""
    return {
        "size": 0,
        "aggs": {
            "oldest": {"min": {"field": "occurred_at"}},
            "newest": {"max": {"field": "occurred_at"}},
        },
    }


def chart_range(oldest: datetime, newest: datetime) -> tuple[datetime, datetime, timedelta]:
    """Start, end and bucket width of the charts: the newest :data:`CHART_SPAN` of the
    index (or all of it, when it holds less), in about :data:`CHART_BUCKETS` buckets of
    whole minutes.

    >>> start, end, width = chart_range(datetime(2026, 1, 1), datetime(2026, 1, 1, 4))
    >>> start.hour, end.hour, width
    (0, 4, datetime.timedelta(seconds=300))
    """
    start = max(oldest, newest - CHART_SPAN)
    minutes = max(1, math.ceil((newest - start) / CHART_BUCKETS / timedelta(minutes=1)))
    return start, newest, timedelta(minutes=minutes)


def _histogram(start: datetime, end: datetime, interval: timedelta, **aggs: Any) -> dict[str, Any]:
    return {
        "date_histogram": {
            "field": "occurred_at",
            "fixed_interval": f"{int(interval.total_seconds())}s",
            "min_doc_count": 0,
            "extended_bounds": {"min": start.isoformat(), "max": end.isoformat()},
        },
        "aggs": aggs,
    }


def charts_query(start: datetime, end: datetime, interval: timedelta) -> dict[str, Any]:
    """Volume, negative share and satisfaction from ``start`` to ``end`` (inclusive), overall
    and for the top keys of each split; needs over the span and over its newest part."""
    satisfaction = {"avg": {"field": "satisfaction"}}
    aggs: dict[str, Any] = {
        "over_time": _histogram(
            start,
            end,
            interval,
            satisfaction=satisfaction,
            negative={"filter": {"term": {"sentiment": "negative"}}},
        ),
        "needs": {"terms": {"field": "need", "size": 50}},
        "recent": {
            "filter": {"range": {"occurred_at": {"gt": (end - RECENT_SPAN).isoformat()}}},
            "aggs": {"needs": {"terms": {"field": "need", "size": 50}}},
        },
        "version": {"max": {"field": "model_versions.bundle"}},
    }
    for split, field in SPLITS.items():
        aggs[f"by_{split}"] = {
            "terms": {"field": field, "size": TOP_KEYS},
            "aggs": {"over_time": _histogram(start, end, interval, satisfaction=satisfaction)},
        }
    return {
        "size": 0,
        "query": {"range": {"occurred_at": {"gte": start.isoformat(), "lte": end.isoformat()}}},
        "aggs": aggs,
    }


def _series(buckets: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    return {
        "t": [b["key_as_string"] for b in buckets],
        "satisfaction": [b["satisfaction"]["value"] for b in buckets],
    }


def rising_needs(recent: Mapping[str, int], overall: Mapping[str, int]) -> list[dict[str, Any]]:
    """Needs whose share of the newest slice is at least :data:`RISING_MIN_LIFT` times their
    share of the whole span.

    ``lift`` is the ratio of the two shares; needs seen fewer than
    :data:`RISING_MIN_COUNT` times recently are left out (noise).

    >>> rising_needs({"refund": 6, "delay": 4}, {"refund": 10, "delay": 40, "other": 50})
    [{'need': 'refund', 'recent': 6, 'recent_share': 0.6, 'share': 0.1, 'lift': 6.0}]
    """
    recent_total, total = sum(recent.values()), sum(overall.values())
    if not recent_total or not total:
        return []
    rising: list[dict[str, Any]] = []
    for need, count in recent.items():
        share = overall.get(need, count) / total
        recent_share = count / recent_total
        if count >= RISING_MIN_COUNT and recent_share >= RISING_MIN_LIFT * share:
            rising.append(
                {
                    "need": need,
                    "recent": count,
                    "recent_share": round(recent_share, 4),
                    "share": round(share, 4),
                    "lift": round(recent_share / share, 2),
                }
            )
    rising.sort(key=lambda r: (-r["lift"], r["need"]))
    return rising


def shape_charts(aggregations: Mapping[str, Any]) -> dict[str, Any]:
    """The answer to :func:`charts_query` as the page's series."""
    buckets = aggregations["over_time"]["buckets"]
    overall = _series(buckets)
    volume = [b["doc_count"] for b in buckets]
    overall["volume"] = volume
    overall["negative_share"] = [
        (b["negative"]["doc_count"] / b["doc_count"]) if b["doc_count"] else None for b in buckets
    ]
    by = {
        split: {
            b["key"]: _series(b["over_time"]["buckets"])
            for b in aggregations[f"by_{split}"]["buckets"]
        }
        for split in SPLITS
    }
    needs = {b["key"]: b["doc_count"] for b in aggregations["needs"]["buckets"]}
    recent = {b["key"]: b["doc_count"] for b in aggregations["recent"]["needs"]["buckets"]}
    version = aggregations["version"]["value"]
    return {
        "overall": overall,
        "by": by,
        "needs": {
            "top": [{"need": k, "count": v} for k, v in list(needs.items())[:TOP_KEYS]],
            "rising": rising_needs(recent, needs),
        },
        "indexed_model_version": None if version is None else int(version),
    }


# -- dead letters -----------------------------------------------------------------------


def dead_letters_query(since: datetime) -> dict[str, Any]:
    """Dead letters per reason, all kept and since ``since`` (processing time)."""
    return {
        "size": 0,
        "aggs": {
            "reasons": {
                "terms": {"field": "reason", "size": 30},
                "aggs": {
                    "recent": {"filter": {"range": {"failed_at": {"gte": since.isoformat()}}}}
                },
            }
        },
    }


def shape_dead_letters(aggregations: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``[{reason, count, recent}]``, the most frequent reason first."""
    return [
        {"reason": b["key"], "count": b["doc_count"], "recent": b["recent"]["doc_count"]}
        for b in aggregations["reasons"]["buckets"]
    ]


# -- model health from Prometheus -------------------------------------------------------

#: Instant PromQL queries for the model panel, by the name the page uses.
MODEL_INSTANT_QUERIES: dict[str, str] = {
    "versions": 'max by (model) (crmstream_model_version{role="scorer"})',
    "quality": "max by (model, metric) (crmstream_model_quality)",
    "events": "sum by (kind) (crmstream_model_events_total)",
}
#: Rolling accuracy over time (range query), one line per model.
ACCURACY_RANGE_QUERY = 'max by (model) (crmstream_model_quality{metric="accuracy"})'
ACCURACY_RANGE = timedelta(hours=1)
ACCURACY_STEPS = 120


def accuracy_range_params(now: datetime) -> dict[str, str]:
    """Parameters of Prometheus' ``/api/v1/query_range`` for the accuracy chart."""
    step = ACCURACY_RANGE / ACCURACY_STEPS
    return {
        "query": ACCURACY_RANGE_QUERY,
        "start": f"{(now - ACCURACY_RANGE).timestamp():.3f}",
        "end": f"{now.timestamp():.3f}",
        "step": f"{step.total_seconds():g}s",
    }


def _labelled(result: Sequence[Mapping[str, Any]], *labels: str) -> list[dict[str, Any]]:
    rows = []
    for sample in result:
        row: dict[str, Any] = {label: sample["metric"].get(label, "") for label in labels}
        row["value"] = float(sample["value"][1])
        rows.append(row)
    rows.sort(key=lambda r: tuple(r[label] for label in labels))
    return rows


def shape_models(
    instant: Mapping[str, Sequence[Mapping[str, Any]]],
    accuracy: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Prometheus' vectors (``instant`` by :data:`MODEL_INSTANT_QUERIES` name) and the
    accuracy matrix as the model panel: versions, quality, drift and emerging-need events.

    >>> shape_models(
    ...     {"versions": [{"metric": {"model": "need"}, "value": [1, "12"]}],
    ...      "quality": [{"metric": {"model": "need", "metric": "accuracy"}, "value": [1, "0.8"]}],
    ...      "events": [{"metric": {"kind": "drift"}, "value": [1, "2"]}]},
    ...     [{"metric": {"model": "need"}, "values": [[1700000000, "0.75"]]}],
    ... )  # doctest: +NORMALIZE_WHITESPACE
    {'versions': {'need': 12}, 'quality': [{'model': 'need', 'metric': 'accuracy', 'value': 0.8}],
     'events': {'drift': 2, 'emerging_need': 0},
     'accuracy': {'need': {'t': ['2023-11-14T22:13:20+00:00'], 'v': [0.75]}}}
    """
    versions = {r["model"]: int(r["value"]) for r in _labelled(instant["versions"], "model")}
    events = {"drift": 0, "emerging_need": 0}
    events.update({r["kind"]: int(r["value"]) for r in _labelled(instant["events"], "kind")})
    lines: dict[str, dict[str, list[Any]]] = {}
    for series in accuracy:
        model = series["metric"].get("model", "")
        lines[model] = {
            "t": [_utc(float(at)) for at, _ in series["values"]],
            "v": [float(v) for _, v in series["values"]],
        }
    return {
        "versions": versions,
        "quality": _labelled(instant["quality"], "model", "metric"),
        "events": events,
        "accuracy": dict(sorted(lines.items())),
    }


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


#: Emerging needs: the newest messages of ``crm.model-events`` read, the needs shown, the
#: hours of volume drawn and the examples each.
EMERGING_READ = 500
EMERGING_SHOWN = 10
EMERGING_HOURS = 24
EMERGING_EXAMPLES = 3


def shape_emerging(messages: Iterable[bytes | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``crm.model-events`` messages (oldest first) as the emerging-needs panel: each
    cluster once (its newest event: a surge after its first alert replaces it), newest
    first, with its id, trigger, top terms, example texts, volume (its size, its texts in
    the last window and per hour for the last :data:`EMERGING_HOURS` hours) and the needs
    assigned to it. Other kinds and unreadable messages are skipped.

    >>> event = {"kind": "emerging_need", "cluster_id": "emerging-1", "trigger": "new",
    ...          "top_terms": ["points", "voucher"], "size": 12, "recent": 10, "known": 0,
    ...          "started": 1767600000.0, "at": 1767607200.0, "hourly": [3, 4, 5],
    ...          "needs": {"billing": 0.5}, "examples": [{"event_id": "e1", "text": "my points"}]}
    >>> [row] = shape_emerging([b"not json", {"kind": "drift"}, event])
    >>> row["cluster_id"], row["top_terms"], row["hourly"], row["examples"], row["at"]
    ('emerging-1', ['points', 'voucher'], [3, 4, 5], ['my points'], '2026-01-05T10:00:00+00:00')
    """
    newest: dict[str, dict[str, Any]] = {}
    for message in messages:
        try:
            event = orjson.loads(message) if isinstance(message, bytes) else dict(message)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(event, dict) or event.get("kind") != "emerging_need":
            continue
        if not event.get("cluster_id"):
            continue
        newest.pop(str(event["cluster_id"]), None)  # keep the newest, in arrival order
        newest[str(event["cluster_id"])] = event
    rows = []
    for event in reversed(list(newest.values())):
        rows.append(
            {
                "cluster_id": str(event["cluster_id"]),
                "trigger": str(event.get("trigger", "")),
                "top_terms": [str(t) for t in event.get("top_terms", [])],
                "examples": [
                    str(e.get("text", ""))
                    for e in event.get("examples", [])[:EMERGING_EXAMPLES]
                    if isinstance(e, Mapping)
                ],
                "size": int(event.get("size", 0)),
                "recent": int(event.get("recent", 0)),
                "hourly": [int(n) for n in event.get("hourly", [])][-EMERGING_HOURS:],
                "needs": {str(n): float(s) for n, s in dict(event.get("needs", {})).items()},
                "started": _utc(float(event["started"])) if "started" in event else None,
                "at": _utc(float(event["at"])) if "at" in event else None,
            }
        )
        if len(rows) == EMERGING_SHOWN:
            break
    return rows
