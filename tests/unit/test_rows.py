"""One reader and one time parser: a file parses the same in ``replay`` and in ``eval``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from crmstream.labelled import order_rows
from crmstream.labelled import read_rows as read_rows_for_evaluation
from crmstream.replay import RowMapping, plan_replay
from crmstream.rows import UnreadableLine, parse_time, read_rows

#: Times in the formats the two commands used to read differently, each a distinct moment.
TIMES = {
    "iso": ("2015-02-24T11:35:00Z", datetime(2015, 2, 24, 11, 35, tzinfo=UTC)),
    "us-12h": ("2/24/2015 11:36 PM", datetime(2015, 2, 24, 23, 36, tzinfo=UTC)),
    "us-date": ("2/23/2015", datetime(2015, 2, 23, tzinfo=UTC)),
    "epoch": ("1424800000", datetime(2015, 2, 24, 17, 46, 40, tzinfo=UTC)),
    "epoch-ms": ("1424700000000", datetime(2015, 2, 23, 14, tzinfo=UTC)),
    "dotted-date": ("22.02.2015", datetime(2015, 2, 22, tzinfo=UTC)),
    "space-minutes": ("2015-02-24 11:37", datetime(2015, 2, 24, 11, 37, tzinfo=UTC)),
    "offset": ("2015-02-24 03:38:00 -0800", datetime(2015, 2, 24, 11, 38, tzinfo=UTC)),
}
MAPPING = RowMapping(
    kind="communication",
    fields={"event_id": "id", "text": "text", "occurred_at": "at", "customer_id": "who"},
    constants={"channel": "chat", "direction": "inbound"},
)


def rows() -> list[dict[str, str]]:
    return [
        {"id": name, "text": f"row {name}", "at": text, "who": "c1"}
        for name, (text, _) in TIMES.items()
    ]


def write(path: Path) -> Path:
    if path.suffix == ".csv":
        lines = ["id,text,at,who", *(",".join(row.values()) for row in rows())]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows()))
    return path


@pytest.mark.parametrize("name", ["rows.csv", "rows.jsonl", "rows.json", "rows.jsonlines"])
def test_the_same_file_parses_the_same_in_replay_and_eval(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / name)
    assert read_rows_for_evaluation(path) == list(read_rows(path)) == rows()

    replayed = plan_replay(path, MAPPING, order="time")
    assert replayed.skipped == []
    evaluated, note = order_rows(read_rows_for_evaluation(path), time_col="at", shuffle_seed=None)
    assert "without a readable time" not in note
    # The same moments, in the same order.
    by_time = sorted(TIMES, key=lambda key: TIMES[key][1])
    assert [event["event_id"] for event in replayed.events] == by_time
    assert [row["id"] for row in evaluated] == by_time
    for event in replayed.events:
        expected = TIMES[event["event_id"]][1]
        assert datetime.fromisoformat(event["occurred_at"]) == expected
        assert parse_time(TIMES[event["event_id"]][0]) == expected


def test_an_unreadable_line_is_skipped_by_replay_and_stops_eval(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    good = orjson.dumps(rows()[0])
    path.write_bytes(good + b"\n\n{broken\n" + orjson.dumps([1]) + b"\n")
    read = list(read_rows(path))
    assert read[0] == rows()[0]
    assert [(r.line, r.why[:8]) for r in read[1:] if isinstance(r, UnreadableLine)] == [
        (3, "not JSON"),
        (4, "not a JS"),
    ]
    assert [why for _, why in plan_replay(path, MAPPING).skipped] == [
        str(read[1]),
        "line 4: not a JSON object",
    ]
    with pytest.raises(ValueError, match=r"rows.jsonl:3: not JSON"):
        read_rows_for_evaluation(path)
