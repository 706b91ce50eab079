"""Rows of the files crmstream reads, and the times written in them.

``crmstream replay``, ``eval``, ``bootstrap`` and ``eval-similar`` all read a CSV file with
a header or a JSON Lines file (one object per line). They read it here, so that a file
parses the same in each of them; each decides for itself what a line it cannot read
means (a skipped row for a replay, a stop for an evaluation).

>>> parse_time("2/24/2015 11:35").isoformat()
'2015-02-24T11:35:00+00:00'
>>> from zoneinfo import ZoneInfo
>>> parse_time("2/24/2015 11:35 PM", ZoneInfo("America/Los_Angeles")).isoformat()
'2015-02-24T23:35:00-08:00'
>>> parse_time("2026-01-05T08:00:00Z").isoformat()
'2026-01-05T08:00:00+00:00'
>>> parse_time("1424800000").isoformat()  # epoch seconds (milliseconds too)
'2015-02-24T17:46:40+00:00'
>>> parse_time("soon") is None
True
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import orjson

__all__ = ["JSON_LINES_SUFFIXES", "TIME_FORMATS", "UnreadableLine", "parse_time", "read_rows"]

#: Files read as JSON Lines; any other file is read as CSV.
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson", ".jsonlines", ".json")

#: Times seen in exported data, tried after ISO 8601 (and before epoch numbers).
TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S %z",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
)

#: An epoch number above this is in milliseconds (1e11 seconds is the year 5138).
EPOCH_MILLISECONDS_ABOVE = 1e11


@dataclass(frozen=True, slots=True)
class UnreadableLine:
    """A JSON Lines line that is not a JSON object; ``line`` counts from 1."""

    line: int
    why: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.why}"


def read_rows(path: Path) -> Iterator[dict[str, Any] | UnreadableLine]:
    """The rows of a CSV (utf-8, BOM allowed; values as strings) or JSON Lines file, in
    file order; blank JSON Lines lines are left out, unreadable ones come as
    :class:`UnreadableLine` in their place."""
    if path.suffix.lower() in JSON_LINES_SUFFIXES:
        with path.open("rb") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    value = orjson.loads(line)
                except orjson.JSONDecodeError as error:
                    yield UnreadableLine(number, f"not JSON ({error})")
                    continue
                yield (
                    value
                    if isinstance(value, dict)
                    else UnreadableLine(number, "not a JSON object")
                )
    else:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            yield from (dict(row) for row in csv.DictReader(handle))


def parse_time(value: str, default_tz: tzinfo = UTC) -> datetime | None:
    """A timestamp in ISO 8601, a common export format or epoch seconds or milliseconds;
    a time written without a zone is in ``default_tz``. None when it is none of these."""
    text = value.strip()
    if not text:
        return None
    moment: datetime | None = None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        for pattern in TIME_FORMATS:
            try:
                moment = datetime.strptime(text, pattern)
                break
            except ValueError:
                continue
    if moment is None:
        try:
            number = float(text)
        except ValueError:
            return None
        if not math.isfinite(number):
            return None
        seconds = number / 1000 if number > EPOCH_MILLISECONDS_ABOVE else number
        return datetime.fromtimestamp(seconds, UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=default_tz)
