"""The ops page's pure parts: alert episodes, the searches behind them, chart shapes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from crmstream.ops import data
from crmstream.ops.server import communications_page

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def record(alert_id: str, state: str, fired_at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "rule": "agent_rated_satisfaction_low",
        "severity": fields.pop("severity", "warning"),
        "state": state,
        "dimension": fields.pop("dimension", "agent"),
        "key": fields.pop("key", "agent-003"),
        "value": fields.pop("value", 0.2),
        "threshold": 0.35,
        "samples": 7,
        "window_start": "2026-03-02T04:00:00+00:00",
        "window_end": "2026-03-02T05:00:00+00:00",
        "fired_at": fired_at.isoformat(),
        "message": "low",
        **fields,
    }


def test_an_episode_without_resolution_is_firing_and_one_with_is_resolved() -> None:
    firing = [
        record("a1", "firing", NOW - timedelta(hours=2)),
        record("a2", "firing", NOW - timedelta(hours=1), key="agent-007"),
    ]
    resolved = [
        record("a1", "resolved", NOW - timedelta(minutes=5), value=0.6, resolution="recovered")
    ]
    active, done = data.pair_alerts(firing, resolved, resolved_since=NOW - timedelta(hours=6))
    assert [a.alert_id for a in active] == ["a2"]
    assert active[0].resolved_at is None
    assert [a.alert_id for a in done] == ["a1"]
    assert done[0].resolution == "recovered" and done[0].resolved_value == 0.6
    assert done[0].resolved_at == (NOW - timedelta(minutes=5)).isoformat()
    assert done[0].value == 0.2  # the value it fired with


def test_resolutions_older_than_the_window_are_left_out() -> None:
    firing = [record("old", "firing", NOW - timedelta(days=2))]
    resolved = [record("old", "resolved", NOW - timedelta(hours=7))]
    active, done = data.pair_alerts(firing, resolved, resolved_since=NOW - timedelta(hours=6))
    assert active == [] and done == []


def test_firing_alerts_most_severe_first_then_newest() -> None:
    firing = [
        record("w-old", "firing", NOW - timedelta(hours=3)),
        record("i", "firing", NOW, severity="info"),
        record("c", "firing", NOW - timedelta(hours=5), severity="critical"),
        record("w-new", "firing", NOW - timedelta(hours=1)),
    ]
    active, _ = data.pair_alerts(firing, [], resolved_since=NOW)
    assert [a.alert_id for a in active] == ["c", "w-new", "w-old", "i"]


@pytest.mark.parametrize(
    ("dimension", "field"),
    [("agent", "agent_id"), ("customer", "customer_id"), ("channel", "channel"), ("need", "need")],
)
def test_every_alert_links_to_the_search_for_its_key_and_window(dimension: str, field: str) -> None:
    (alert,), _ = data.pair_alerts(
        [record("a", "firing", NOW, dimension=dimension, key="k 1&2")], [], resolved_since=NOW
    )
    link = urlsplit(alert.communications)
    params = {k: v[0] for k, v in parse_qs(link.query).items()}
    assert link.path == "/communications"
    assert params == {
        "field": field,
        "value": "k 1&2",
        "from": "2026-03-02T04:00:00+00:00",
        "to": "2026-03-02T05:00:00+00:00",
    }
    body = data.communications_query(field, "k 1&2", params["from"], params["to"], size=5)
    assert body["query"]["bool"]["filter"] == [
        {"term": {field: "k 1&2"}},
        {"range": {"occurred_at": {"gte": params["from"], "lt": params["to"]}}},
    ]


def test_the_communications_search_refuses_other_fields() -> None:
    with pytest.raises(ValueError, match="text"):
        data.communications_query("text", "x", "a", "b", size=5)


def test_kql_quotes_the_value() -> None:
    assert data.kql("agent_id", 'a"b', "s", "e").startswith('agent_id : "a\\"b" and')


def test_the_communications_page_escapes_what_it_shows() -> None:
    page = communications_page(
        "agent_id", "<b>", "s", "e", [{"text": "<script>alert(1)</script>", "channel": "chat"}], 3
    )
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "3 found, the first 1 shown" in page


def test_chart_range_is_the_newest_day_at_most() -> None:
    newest = datetime(2026, 3, 5, 12, tzinfo=UTC)
    start, end, width = data.chart_range(newest - timedelta(days=10), newest)
    assert (start, end) == (newest - data.CHART_SPAN, newest)
    assert width == timedelta(minutes=30)
    start, _, width = data.chart_range(newest - timedelta(seconds=20), newest)
    assert start == newest - timedelta(seconds=20) and width == timedelta(minutes=1)


def bucket(key: str, count: int, satisfaction: float | None, negative: int = 0) -> dict[str, Any]:
    return {
        "key_as_string": key,
        "doc_count": count,
        "satisfaction": {"value": satisfaction},
        "negative": {"doc_count": negative},
    }


def test_shape_charts_gives_series_per_split_and_negative_share() -> None:
    over_time = {"buckets": [bucket("t0", 4, 0.5, negative=1), bucket("t1", 0, None)]}
    chat = {"key": "chat", "over_time": {"buckets": [bucket("t0", 4, 0.4), bucket("t1", 0, None)]}}
    aggregations = {
        "over_time": over_time,
        "by_channel": {"buckets": [chat]},
        "by_agent": {"buckets": []},
        "by_need": {"buckets": []},
        "needs": {"buckets": [{"key": "refund", "doc_count": 3}, {"key": "delay", "doc_count": 1}]},
        "recent": {"needs": {"buckets": [{"key": "refund", "doc_count": 3}]}},
        "version": {"value": 12.0},
    }
    charts = data.shape_charts(aggregations)
    assert charts["overall"] == {
        "t": ["t0", "t1"],
        "satisfaction": [0.5, None],
        "volume": [4, 0],
        "negative_share": [0.25, None],
    }
    assert charts["by"]["channel"] == {"chat": {"t": ["t0", "t1"], "satisfaction": [0.4, None]}}
    assert charts["by"]["agent"] == {}
    assert charts["needs"]["top"] == [{"need": "refund", "count": 3}, {"need": "delay", "count": 1}]
    assert [r["need"] for r in charts["needs"]["rising"]] == ["refund"]
    assert charts["indexed_model_version"] == 12


def test_charts_query_splits_by_each_view_over_the_same_buckets() -> None:
    end = datetime(2026, 3, 2, tzinfo=UTC)
    body = data.charts_query(end - timedelta(hours=4), end, timedelta(minutes=5))
    for split, field in data.SPLITS.items():
        by = body["aggs"][f"by_{split}"]
        assert by["terms"]["field"] == field
        assert (
            by["aggs"]["over_time"]["date_histogram"] == body["aggs"]["over_time"]["date_histogram"]
        )
    assert body["aggs"]["over_time"]["date_histogram"]["fixed_interval"] == "300s"


def test_rising_needs_ignore_rare_and_steady_needs() -> None:
    recent = {"refund": 2, "delay": 10, "billing": 10}
    overall = {"refund": 2, "delay": 20, "billing": 100}
    # refund: too few; delay: 50 % now against 16 %; billing: 45 % against 82 %.
    assert [r["need"] for r in data.rising_needs(recent, overall)] == ["delay"]
    assert data.rising_needs({}, overall) == []


def test_shape_dead_letters() -> None:
    aggregations = {
        "reasons": {"buckets": [{"key": "schema", "doc_count": 5, "recent": {"doc_count": 2}}]}
    }
    assert data.shape_dead_letters(aggregations) == [{"reason": "schema", "count": 5, "recent": 2}]


def test_shape_models_defaults_missing_event_kinds_to_zero_and_sorts_lines() -> None:
    models = data.shape_models(
        {
            "versions": [],
            "quality": [],
            "events": [{"metric": {"kind": "emerging_need"}, "value": [0, "3"]}],
        },
        [
            {"metric": {"model": "urgency"}, "values": [[0, "0.5"]]},
            {"metric": {"model": "need"}, "values": [[0, "0.6"], [30, "0.7"]]},
        ],
    )
    assert models["events"] == {"drift": 0, "emerging_need": 3}
    assert list(models["accuracy"]) == ["need", "urgency"]
    assert models["accuracy"]["need"]["v"] == [0.6, 0.7]


def test_accuracy_range_covers_the_last_hour() -> None:
    params = data.accuracy_range_params(NOW)
    assert float(params["end"]) - float(params["start"]) == 3600
    assert params["step"] == "30s"


def emerging_event(cluster: int, at: float, trigger: str = "new", **extra: Any) -> bytes:
    event = {
        "kind": "emerging_need", "cluster_id": f"emerging-{cluster}", "trigger": trigger,
        "top_terms": ["points", "voucher"], "size": 12, "recent": 10, "known": 0,
        "started": 0.0, "at": at, "hourly": list(range(30)), "needs": {"billing": 0.5},
        "examples": [{"event_id": f"e{i}", "text": f"text {i}"} for i in range(5)], **extra,
    }  # fmt: skip
    return orjson.dumps(event)


def test_emerging_needs_show_each_cluster_once_newest_first() -> None:
    messages = [emerging_event(i, at=3600.0 * i) for i in range(12)]
    messages += [b'{"kind": "drift", "model": "need"}', b"\xff not json"]
    messages.append(emerging_event(3, at=99_000.0, trigger="surge", size=40))
    rows = data.shape_emerging(messages)
    assert len(rows) == data.EMERGING_SHOWN
    assert [r["cluster_id"] for r in rows[:3]] == ["emerging-3", "emerging-11", "emerging-10"]
    assert rows[0]["trigger"] == "surge" and rows[0]["size"] == 40  # its newest event
    assert rows[0]["examples"] == ["text 0", "text 1", "text 2"]
    assert rows[0]["hourly"] == list(range(6, 30))  # the last 24 hours
    assert rows[0]["needs"] == {"billing": 0.5} and rows[0]["top_terms"] == ["points", "voucher"]
    assert data.shape_emerging([]) == []
