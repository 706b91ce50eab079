"""``crmstream eval-emerging``: would the emerging-need detector have found a new need?

Anyone can run it on their own labelled history: ``hide`` names needs whose labels are
removed (they play the new needs); the other needs keep their label on a ``label_share``
of their texts (chosen by a hash of the row, so the same rows on every run), the rest
arrive unlabelled, as in production. The rows are streamed in order through the
learner's own path, :meth:`models.bundle.ModelBundle.learn_batch`, ``batch`` at a time,
each unlabelled text first scored by the bundle as a worker would (its top needs ride
along, ``need_top3``). Texts are redacted as the pipeline does before they reach the
learner, so the example messages of the events are as a team would see them.

Per hidden need it reports whether an event's cluster was mostly that need (detected),
after how many of its messages (counted over the whole stream up to the end of the batch
that raised the event, sampled or not), and the purity of the cluster then (the share of
its members that are that need). An event whose cluster is mostly anything else is a
false alarm; a further event for a need already found is a repeat.

>>> rows = [{"text": t, "need": n} for t, n in [("refund please", "refund")] * 3]
>>> report = evaluate_emerging(rows, text_col="text", need_col="need", hide=["refund"])
>>> report.hidden["refund"].detected, report.false_alarms
(False, 0)
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crmstream.errors import DatasetError
from crmstream.labelled import cell, order_rows
from crmstream.rows import parse_time
from models.bundle import ModelBundle
from models.emerging import EmergingNeedEvent, EmergingNeeds
from models.features import from_record
from streams.redaction import PII_TYPES, Redactor

__all__ = ["EmergingReport", "HiddenNeed", "communication_rows", "evaluate_emerging"]


@dataclass
class HiddenNeed:
    """One hidden need's figures."""

    need: str
    messages: int = 0
    share: float = 0.0
    detected: bool = False
    after: int | None = None
    purity: float | None = None
    cluster_id: str | None = None
    top_terms: list[str] = field(default_factory=list)
    repeats: int = 0


@dataclass
class EmergingReport:
    """What :func:`evaluate_emerging` found: per hidden need, false alarms, the events."""

    hidden: dict[str, HiddenNeed]
    false_alarms: int
    rows: int
    events: list[dict[str, Any]] = field(default_factory=list)

    def table(self) -> str:
        """The figures as a Markdown table."""
        lines = [
            "| hidden need | share | messages | detected | after messages | purity | repeats"
            " | top terms |",
            "| --- | ---: | ---: | --- | ---: | ---: | ---: | --- |",
        ]
        for need in self.hidden.values():
            lines.append(
                f"| {need.need} | {need.share:.1%} | {need.messages} |"
                f" {'yes' if need.detected else 'no'} | {need.after or '-'} |"
                f" {'-' if need.purity is None else f'{need.purity:.2f}'} | {need.repeats} |"
                f" {' '.join(need.top_terms)} |"
            )
        lines.append(f"\nfalse alarms: {self.false_alarms} (rows streamed: {self.rows})")
        return "\n".join(lines)


def communication_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows as given, or, for ``crmstream generate --out`` lines (``{"kind", "value"}``),
    the inbound communications' values.

    >>> communication_rows([{"kind": "communication", "value": {"direction": "inbound"}},
    ...                     {"kind": "feedback", "value": {}}, {"text": "hi"}])
    [{'direction': 'inbound'}, {'text': 'hi'}]
    """
    out = []
    for row in rows:
        value = row.get("value")
        if "kind" in row and isinstance(value, Mapping):
            if row["kind"] == "communication" and value.get("direction") == "inbound":
                out.append(dict(value))
        else:
            out.append(dict(row))
    return out


def _kept(key: str, share: float) -> bool:
    """Whether a known need's row keeps its label (a hash of the row: stable across runs)."""
    return zlib.crc32(key.encode()) / 2**32 < share


def _epoch(value: str) -> float | None:
    moment = parse_time(value) if value else None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def evaluate_emerging(
    rows: Sequence[Mapping[str, Any]],
    *,
    text_col: str,
    need_col: str,
    hide: Sequence[str],
    time_col: str | None = None,
    fill_need_from: str | None = None,
    label_share: float = 1.0,
    batch: int = 100,
    detector: EmergingNeeds | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EmergingReport:
    """Stream ``rows`` through a fresh bundle with the ``hide`` needs unlabelled; report.

    ``fill_need_from``: a column whose value is the need where ``need_col`` is empty
    (the airline tweets' sentiment for tweets without a complaint reason), so that traffic
    without a need counts as a known topic rather than a new one. ``time_col`` orders the
    rows and is their ``occurred_at`` (else one text per second in file order).
    """
    if not 0.0 <= label_share <= 1.0:
        raise DatasetError("label_share must be within [0, 1]")
    ordered, _ = order_rows([dict(row) for row in rows], time_col=time_col, shuffle_seed=None)
    hidden = {need: HiddenNeed(need) for need in hide}
    redactor = Redactor(PII_TYPES)
    records: list[dict[str, Any]] = []
    truth: dict[str, str] = {}
    start = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    for i, row in enumerate(ordered):
        text = cell(row, text_col)
        if not text:
            continue
        need = cell(row, need_col) or (cell(row, fill_need_from) if fill_need_from else "")
        key = cell(row, "event_id") or f"row-{i}"
        at = _epoch(cell(row, time_col)) if time_col else None
        truth[key] = need
        record: dict[str, Any] = {
            "event_id": key,
            "text": redactor.redact(text).text,
            "direction": "inbound",
            "occurred_at": start + i if at is None else at,
            "language": cell(row, "language") or None,
        }
        if need and need not in hidden and _kept(key, label_share):
            record["need"] = need
        records.append(record)
    missing = [need for need in hidden if need not in set(truth.values())]
    if missing:
        raise DatasetError(f"no rows of the hidden need(s) {missing}")
    counts = Counter(truth.values())
    for figures in hidden.values():
        figures.messages = counts[figures.need]
        figures.share = counts[figures.need] / len(records)

    bundle = ModelBundle()
    if detector is not None:
        bundle.emerging = detector
    seen: Counter[str] = Counter()
    false_alarms = 0
    events: list[dict[str, Any]] = []
    for begin in range(0, len(records), batch):
        chunk = records[begin : begin + batch]
        for record in chunk:
            seen[truth[record["event_id"]]] += 1
            if not record.get("need") and bundle.need.class_counts:
                top3 = bundle.need.predict_one(from_record(record)).top3
                record["need_top3"] = [[label, p] for label, p in top3]
        outcome = bundle.learn_batch("communication", chunk)
        for event in outcome.emerging:
            verdict = _judge(event, bundle.emerging.members(event.cluster_id), truth)
            events.append({**verdict, "event": event})
            found = hidden.get(verdict["majority"])
            if found is None:
                false_alarms += 1
            elif found.detected:
                found.repeats += 1
            else:
                found.detected, found.after = True, seen[found.need]
                found.purity, found.cluster_id = verdict["purity"], event.cluster_id
                found.top_terms = event.top_terms
        if progress is not None:
            progress(min(begin + batch, len(records)), len(records))
    return EmergingReport(hidden, false_alarms, len(records), events)


def _judge(
    event: EmergingNeedEvent, members: Sequence[str], truth: Mapping[str, str]
) -> dict[str, Any]:
    """The true need most of an event's members have, and their share (the purity)."""
    needs = Counter(truth.get(member, "") for member in members)
    if not needs:
        return {"majority": "", "purity": 0.0, "members": 0}
    majority, count = needs.most_common(1)[0]
    return {"majority": majority, "purity": round(count / len(members), 3), "members": len(members)}
