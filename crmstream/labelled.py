"""The labelled files ``crmstream eval`` and ``crmstream bootstrap`` read.

A CSV or JSON Lines file (read by :mod:`crmstream.rows`) becomes the online models'
:class:`~models.features.Example` values in stream order (file order, by a time column,
or shuffled with a seed) and the :class:`~models.evaluate.EvaluationTask` values its
label columns allow; :mod:`models.evaluate` does the learning on them in memory. Which
column holds what, and the order, is one :class:`LabelledColumns` value: the command
line builds it once and every step passes it on.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crmstream.errors import DatasetError
from crmstream.rows import UnreadableLine, parse_time
from crmstream.rows import read_rows as read_file_rows
from models.evaluate import EvaluationTask
from models.features import Example
from models.satisfaction import normalize_score, parse_sentiment

__all__ = [
    "LabelledColumns",
    "cell",
    "detect_satisfaction",
    "order_rows",
    "read_labelled",
    "read_rows",
]


@dataclass(frozen=True, slots=True)
class LabelledColumns:
    """What a labelled file's columns hold, and the order its rows are read in.

    ``text`` is required; each label column is optional and adds its task (``need``:
    need labels; ``satisfaction``: a score on ``satisfaction_scale``, or sentiment words
    or 0/1, see :func:`detect_satisfaction`; ``priority``: P1..P4 labels, which only
    ``crmstream bootstrap`` learns). ``language`` is a column with a language hint. The
    rows are read in file order, in the order of the ``time`` column, or shuffled with
    ``shuffle_seed`` (not both). A column name ``a.b`` reaches into JSON objects.

    >>> columns = LabelledColumns("text", need="negativereason", time="tweet_created")
    >>> columns.text, columns.need, columns.satisfaction
    ('text', 'negativereason', None)
    >>> columns.time = None
    Traceback (most recent call last):
    dataclasses.FrozenInstanceError: cannot assign to field 'time'
    """

    text: str
    need: str | None = None
    satisfaction: str | None = None
    satisfaction_scale: tuple[float, float] | None = None
    priority: str | None = None
    language: str | None = None
    time: str | None = None
    shuffle_seed: int | None = None


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Every row of a CSV or JSON Lines file (:func:`crmstream.rows.read_rows`); a line
    that is not a JSON object stops the evaluation (:class:`DatasetError`)."""
    rows = []
    for row in read_file_rows(path):
        if isinstance(row, UnreadableLine):
            raise DatasetError(f"{path}:{row.line}: {row.why}")
        rows.append(row)
    return rows


def cell(row: Mapping[str, Any], column: str) -> str:
    """A row's value as stripped text ("" when missing); ``a.b`` reaches into objects."""
    value: Any = row.get(column)
    if value is None and "." in column:
        value = row
        for part in column.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value).strip()


def order_rows(
    rows: list[dict[str, Any]], *, time_col: str | None, shuffle_seed: int | None
) -> tuple[list[dict[str, Any]], str]:
    """Rows in stream order, and a description of the order.

    By ``time_col`` (stable sort; unparseable times go last, in file order), shuffled with
    ``shuffle_seed``, or as in the file.
    """
    if time_col is not None and shuffle_seed is not None:
        raise DatasetError("order by a time column or shuffle with a seed, not both")
    if time_col is not None:
        if rows and time_col not in rows[0] and not any(cell(r, time_col) for r in rows[:100]):
            raise DatasetError(f"no time column {time_col!r}")
        keyed = [(parse_time(cell(row, time_col)), row) for row in rows]
        missing = sum(1 for moment, _ in keyed if moment is None)
        end = datetime.max.replace(tzinfo=UTC)
        keyed.sort(key=lambda pair: end if pair[0] is None else pair[0])
        note = f"by `{time_col}` (stable sort)"
        if missing:
            note += f"; {missing} rows without a readable time last"
        return [row for _, row in keyed], note
    if shuffle_seed is not None:
        shuffled = list(rows)
        random.Random(shuffle_seed).shuffle(shuffled)
        return shuffled, f"shuffled (seed {shuffle_seed})"
    return list(rows), "file order"


def detect_satisfaction(
    values: Iterable[str], scale: tuple[float, float] | None
) -> tuple[str, Callable[[str], Any], str]:
    """Decide what a satisfaction column holds: ``(task, convert, note)``.

    With a ``scale``, or numbers other than 0/1 (or -1/0/1), it is a ``satisfaction``
    score, normalized to [0, 1] on the scale (given, or inferred: 0-1, 1-5, 0-10, 0-100,
    else the observed range). Sentiment words, 0/1 or -1/0/1 make it ``sentiment``.

    >>> task, convert, note = detect_satisfaction(["1", "0", "1"], None)
    >>> task, convert("1"), note
    ('sentiment', 'positive', 'labels 0/1 read as negative/positive')
    >>> task, convert, note = detect_satisfaction(["4", "5", "2"], None)
    >>> task, convert("4"), note
    ('satisfaction', 0.75, 'scale 1..5 (inferred), normalized to 0..1')
    """
    present = [v for v in values if v]
    if not present:
        raise DatasetError("the satisfaction column is empty")
    numbers: list[float] = []
    for value in present:
        try:
            number = float(value)
        except ValueError:
            break
        if not math.isfinite(number):
            break
        numbers.append(number)
    if len(numbers) == len(present):
        distinct = set(numbers)
        if scale is None and distinct <= {0.0, 1.0}:
            return (
                "sentiment",
                lambda v: "positive" if float(v) == 1.0 else "negative",
                "labels 0/1 read as negative/positive",
            )
        if scale is None and distinct <= {-1.0, 0.0, 1.0}:
            names = {-1.0: "negative", 0.0: "neutral", 1.0: "positive"}
            return (
                "sentiment",
                lambda v: names[float(v)],
                "labels -1/0/1 read as negative/neutral/positive",
            )
        if scale is None:
            lo, hi = min(distinct), max(distinct)
            for candidate in ((0.0, 1.0), (1.0, 5.0), (0.0, 5.0), (0.0, 10.0), (0.0, 100.0)):
                if candidate[0] <= lo and hi <= candidate[1]:
                    lo, hi = candidate
                    break
            if not hi > lo:
                raise DatasetError(f"cannot infer a scale from the single value {lo}")
            how = "inferred"
        else:
            lo, hi = scale
            how = "given"
        return (
            "satisfaction",
            lambda v: normalize_score(float(v), lo, hi),
            f"scale {lo:g}..{hi:g} ({how}), normalized to 0..1",
        )
    if scale is not None:
        raise DatasetError("a satisfaction scale was given but the column is not numeric")
    unknown = sorted({v for v in present if parse_sentiment(v) is None})
    if unknown:
        raise DatasetError(
            f"satisfaction labels must be negative/neutral/positive, 0/1 or numbers; "
            f"got {unknown[:5]}"
        )
    return "sentiment", lambda v: parse_sentiment(v), "sentiment labels"


def read_labelled(
    path: Path, columns: LabelledColumns
) -> tuple[list[Example], list[dict[str, Any]], list[EvaluationTask], dict[str, Any]]:
    """A labelled file as the model's examples in stream order, the rows kept (those with
    a text, in the same order), the tasks its label columns allow, and what was read
    (``rows``, ``skipped_empty_text``, ``order``) for the report.

    >>> import tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = Path(folder.name) / "rows.csv"
    >>> _ = path.write_text("body,mood\\nlate again,negative\\n,positive\\n")
    >>> examples, kept, tasks, info = read_labelled(
    ...     path, LabelledColumns("body", satisfaction="mood")
    ... )
    >>> [e.text for e in examples], [(t.name, t.targets) for t in tasks], info["rows"]
    (['late again'], [('sentiment', ['negative'])], 2)
    >>> folder.cleanup()
    """
    text_col = columns.text
    rows = read_rows(path)
    if rows and text_col not in rows[0] and not any(cell(r, text_col) for r in rows[:100]):
        raise DatasetError(f"no text column {text_col!r} in {path}")
    ordered, order_note = order_rows(rows, time_col=columns.time, shuffle_seed=columns.shuffle_seed)
    kept = [row for row in ordered if cell(row, text_col)]
    language_col = columns.language
    examples = [
        Example(cell(row, text_col), language=cell(row, language_col) or None)
        if language_col
        else Example(cell(row, text_col))
        for row in kept
    ]
    tasks: list[EvaluationTask] = []
    if need_col := columns.need:
        task = EvaluationTask("need", need_col, "classification", note="need labels")
        for i, row in enumerate(kept):
            label = cell(row, need_col)
            if label:
                task.indices.append(i)
                task.targets.append(label)
        tasks.append(task)
    if satisfaction_col := columns.satisfaction:
        values = [cell(row, satisfaction_col) for row in kept]
        name, convert, note = detect_satisfaction(values, columns.satisfaction_scale)
        kind = "regression" if name == "satisfaction" else "classification"
        task = EvaluationTask(name, satisfaction_col, kind, note=note)
        for i, value in enumerate(values):
            if value:
                task.indices.append(i)
                task.targets.append(convert(value))
        tasks.append(task)
    info = {
        "rows": len(rows),
        "skipped_empty_text": len(rows) - len(kept),
        "order": order_note,
    }
    return examples, kept, tasks, info
