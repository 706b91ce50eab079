from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from bench.events import AIRLINE_MAPPING
from crmstream.replay import MappingError, RowMapping, event_time, plan_replay

TWEETS_LIKE = (
    "tweet_id,airline_sentiment,negativereason,airline,text,tweet_created\n"
    '570306133677760513,neutral,,Virgin America,"@VirginAmerica What, said.",2/24/2015 11:35\n'
    "570301130888122368,negative,Late Flight,United,@united late again,2/24/2015 9:15\n"
    "570301130888122369,negative,Bad Flight,United,,2/24/2015 10:00\n"  # empty text: skipped
    "570301130888122370,positive,,Delta,@Delta thanks,not a date\n"  # bad time: skipped
)


@pytest.fixture
def tweets(tmp_path: Path) -> Path:
    path = tmp_path / "tweets.csv"
    path.write_text(TWEETS_LIKE)
    return path


def test_csv_rows_become_events_and_bad_rows_are_reported(tweets: Path) -> None:
    plan = plan_replay(tweets, AIRLINE_MAPPING)
    assert [e["event_id"] for e in plan.events] == ["570306133677760513", "570301130888122368"]
    first, second = plan.events
    assert first["text"] == "@VirginAmerica What, said."
    assert first["occurred_at"] == "2015-02-24T11:35:00-08:00"
    assert "need" not in first and second["need"] == "Late Flight"
    assert first["metadata"] == {"airline_sentiment": "neutral"}
    assert [number for number, _ in plan.skipped] == [3, 4]
    assert "text" in plan.skipped[0][1]
    assert "not a date" in plan.skipped[1][1]


def test_time_order_is_by_parsed_time_not_by_text(tweets: Path) -> None:
    plan = plan_replay(tweets, AIRLINE_MAPPING, order="time")
    assert [e["event_id"] for e in plan.events] == ["570301130888122368", "570306133677760513"]


def test_shuffle_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text("label,review\n" + "".join(f"{i % 2},review number {i}\n" for i in range(50)))
    mapping = RowMapping(
        kind="feedback",
        fields={"comment": "review", "score": "label"},
        constants={"kind": "review", "scale": {"min": 0, "max": 1}, "customer_id": "shop"},
    )
    one = plan_replay(path, mapping, order="shuffle", shuffle_seed=3)
    two = plan_replay(path, mapping, order="shuffle", shuffle_seed=3)
    other = plan_replay(path, mapping, order="shuffle", shuffle_seed=4)
    assert [e["event_id"] for e in one.events] == [e["event_id"] for e in two.events]
    assert [e["event_id"] for e in one.events] != [e["event_id"] for e in other.events]
    assert {e["score"] for e in one.events} == {0.0, 1.0}  # coerced by the contract
    # Ids derive from file and row: a second replay of the same file is idempotent.
    assert sorted(e["event_id"] for e in one.events) == sorted(e["event_id"] for e in other.events)


def test_jsonl_with_a_broken_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    good = {"id": "e1", "body": "hello", "ts": "2026-01-01T10:00:00Z", "who": "c1"}
    path.write_bytes(orjson.dumps(good) + b"\n{broken\n" + orjson.dumps([1]) + b"\n")
    mapping = RowMapping(
        kind="communication",
        fields={"event_id": "id", "text": "body", "occurred_at": "ts", "customer_id": "who"},
        constants={"channel": "chat", "direction": "inbound"},
    )
    plan = plan_replay(path, mapping)
    assert [e["event_id"] for e in plan.events] == ["e1"]
    assert [n for n, _ in plan.skipped] == [2, 3]


def test_mapping_file_and_flags_combine(tmp_path: Path) -> None:
    spec = tmp_path / "map.yml"
    spec.write_text("kind: feedback\nfields: {comment: review}\nconstants: {kind: review}\n")
    mapping = RowMapping.from_file(spec).merged(
        {"score": "label"}, {"scale.min": "0", "scale.max": "1", "customer_id": "x"}, (), None
    )
    assert mapping.kind == "feedback"
    assert mapping.constants["scale.max"] == 1
    event = mapping.to_event({"review": "好吃", "label": "1"}, row_number=1, source="w.csv")
    assert event["scale"] == {"min": 0, "max": 1} and event["comment"] == "好吃"
    bad = tmp_path / "bad.yml"
    bad.write_text("kind: feedback\ncolumns: {}\n")
    with pytest.raises(MappingError, match="unknown keys"):
        RowMapping.from_file(bad)


def test_missing_column_is_a_clear_error() -> None:
    with pytest.raises(MappingError, match="'body'"):
        RowMapping(kind="communication", fields={"text": "body"}).to_event(
            {"text": "x"}, row_number=1, source="f"
        )


def test_event_times_in_their_zone_and_an_unreadable_one_is_a_mapping_error() -> None:
    assert event_time("2015-02-24 11:35:52 -0800", UTC).utcoffset() is not None
    with pytest.raises(MappingError, match="'not a date'"):
        event_time("not a date", UTC)
    assert event_time("2026-01-05 08:00", ZoneInfo("Asia/Shanghai")) == datetime(
        2026, 1, 5, tzinfo=UTC
    )
