"""``crmstream eval``: online models against scikit-learn batch baselines on a labelled file.

:func:`run_evaluation` reads a CSV or JSONL file, orders it (file order, by a time column,
or shuffled with a seed), finds the tasks its columns allow and, for each task:

- runs the online model **prequentially** over the task's whole stream, in order: predict,
  then learn, on every example;
- trains two batch baselines on the first 80% of the task's stream and tests them on the
  last 20%: the plain one (TF-IDF + LogisticRegression with C = 1, or TF-IDF + Ridge for a
  numeric satisfaction score; the same shared tokenizer) and the tuned one
  (:class:`~models.baselines.TunedTextClassifier` / :class:`~models.baselines.TunedTextRegressor`:
  word 1-2-grams + character n-grams, sublinear tf, its C or alpha chosen by 3-fold
  cross-validation on those first 80% only); the online figures are the prequential ones
  over that same 20%.

Tasks: ``need`` (categorical need labels: accuracy, macro-F1); ``sentiment`` (a satisfaction
column with negative/neutral/positive or 0/1 labels: accuracy, macro-F1); ``satisfaction``
(a numeric satisfaction column on a scale, normalized to [0, 1]: MAE). A row with an empty
text is skipped; a row with an empty label is skipped for that task only.

It writes ``metrics.json``, ``report.md`` and one learning-curve PNG per task to ``out``.
:func:`bootstrap` warm-starts the online models from a history file (learning only).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from crmstream.errors import DatasetError
from crmstream.rows import UnreadableLine, parse_time
from crmstream.rows import read_rows as read_file_rows
from models.baselines import (
    BatchTextClassifier,
    BatchTextRegressor,
    TunedTextClassifier,
    TunedTextRegressor,
)
from models.emerging import EmergingNeeds
from models.features import Example
from models.health import ModelHealth
from models.keywords import KeywordExtractor
from models.need import NeedClassifier
from models.protocol import BaseOnlineModel
from models.satisfaction import (
    SENTIMENT_SCORES,
    SatisfactionModel,
    normalize_score,
    parse_sentiment,
)
from models.urgency import UrgencyModel

__all__ = [
    "TRAIN_SHARE",
    "bootstrap",
    "detect_satisfaction",
    "order_rows",
    "read_rows",
    "run_evaluation",
]

#: Share of each task's stream the batch baseline trains on; the rest is the test part.
TRAIN_SHARE = 0.8

Progress = Callable[[int, int], None]

# -- reading and ordering -------------------------------------------------------------------


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Every row of a CSV or JSON Lines file (:func:`crmstream.rows.read_rows`); a line
    that is not a JSON object stops the evaluation (:class:`DatasetError`)."""
    rows = []
    for row in read_file_rows(path):
        if isinstance(row, UnreadableLine):
            raise DatasetError(f"{path}:{row.line}: {row.why}")
        rows.append(row)
    return rows


def _cell(row: Mapping[str, Any], column: str) -> str:
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
        if rows and time_col not in rows[0] and not any(_cell(r, time_col) for r in rows[:100]):
            raise DatasetError(f"no time column {time_col!r}")
        keyed = [(parse_time(_cell(row, time_col)), row) for row in rows]
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


# -- tasks ---------------------------------------------------------------------------------


@dataclass
class _Task:
    name: str  # need | sentiment | satisfaction
    column: str
    kind: str  # classification | regression
    indices: list[int] = field(default_factory=list)  # positions in the example stream
    targets: list[Any] = field(default_factory=list)
    note: str = ""


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


def _prepare(
    path: Path,
    *,
    text_col: str,
    need_col: str | None,
    satisfaction_col: str | None,
    satisfaction_scale: tuple[float, float] | None,
    time_col: str | None,
    shuffle_seed: int | None,
    language_col: str | None,
) -> tuple[list[Example], list[dict[str, Any]], list[_Task], dict[str, Any]]:
    rows = read_rows(path)
    if rows and text_col not in rows[0] and not any(_cell(r, text_col) for r in rows[:100]):
        raise DatasetError(f"no text column {text_col!r} in {path}")
    ordered, order_note = order_rows(rows, time_col=time_col, shuffle_seed=shuffle_seed)
    kept = [row for row in ordered if _cell(row, text_col)]
    examples = [
        Example(_cell(row, text_col), language=_cell(row, language_col) or None)
        if language_col
        else Example(_cell(row, text_col))
        for row in kept
    ]
    tasks: list[_Task] = []
    if need_col:
        task = _Task("need", need_col, "classification", note="need labels")
        for i, row in enumerate(kept):
            label = _cell(row, need_col)
            if label:
                task.indices.append(i)
                task.targets.append(label)
        tasks.append(task)
    if satisfaction_col:
        values = [_cell(row, satisfaction_col) for row in kept]
        name, convert, note = detect_satisfaction(values, satisfaction_scale)
        kind = "regression" if name == "satisfaction" else "classification"
        task = _Task(name, satisfaction_col, kind, note=note)
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


def _online_model(task: _Task) -> BaseOnlineModel[Example, Any]:
    return NeedClassifier() if task.name == "need" else SatisfactionModel()


def _online_output(task: _Task, prediction: Any) -> Any:
    if task.name == "need":
        return prediction.label if prediction.label is not None else ""
    if task.name == "sentiment":
        return prediction.sentiment
    return prediction.score


# -- evaluation ----------------------------------------------------------------------------


def _rolling(values: np.ndarray, window: int) -> np.ndarray:
    cumulative = np.concatenate(([0.0], np.cumsum(values, dtype=float)))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(0, ends - window)
    return (cumulative[ends] - cumulative[starts]) / (ends - starts)


def _plot(
    task: _Task,
    per_step: np.ndarray,
    cut: int,
    batch_value: float,
    tuned_value: float,
    metric: str,
    out: Path,
) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    window = max(20, len(per_step) // 20)
    curve = _rolling(per_step, window)
    figure, axes = plt.subplots(figsize=(8, 4.2), dpi=100)
    axes.plot(np.arange(1, len(curve) + 1), curve, label=f"online (rolling {window})")
    axes.axhline(batch_value, color="tab:red", linestyle="--", label=f"batch test ({metric})")
    axes.axhline(
        tuned_value, color="tab:green", linestyle="-.", label=f"tuned batch test ({metric})"
    )
    axes.axvline(cut, color="grey", linestyle=":", label="test part starts")
    axes.set_xlabel("examples in stream order")
    axes.set_ylabel(metric)
    axes.set_title(f"{task.name}: prequential {metric}")
    axes.legend(loc="best")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    name = f"{task.name}_learning_curve.png"
    figure.savefig(out / name)
    plt.close(figure)
    return name


def _round(value: Any) -> float:
    return round(float(value), 4)


def run_evaluation(
    path: Path,
    *,
    text_col: str,
    need_col: str | None,
    satisfaction_col: str | None,
    satisfaction_scale: tuple[float, float] | None,
    time_col: str | None,
    shuffle_seed: int | None,
    out: Path,
    progress: Callable[[int, int], None] | None = None,
    language_col: str | None = None,
) -> dict[str, Any]:
    """Evaluate the online models against the batch baselines; write ``out``; return metrics.

    The returned dict is what ``out/metrics.json`` holds::

        {"tasks": {"need": {"online": {"accuracy", "macro_f1"}, "batch": {...},
                            "batch_tuned": {...}, "batch_tuned_choice": {"C", "cv_rows"},
                            "n_test"},
                   "sentiment": {...},
                   "satisfaction": {"online": {"mae"}, "batch": {...}, "batch_tuned": {...},
                                    "batch_tuned_choice": {"alpha", "cv_rows"}, "n_test"}}}

    ``batch_tuned_choice`` is what the tuned baseline's cross-validation chose, and on how
    many rows (the training part's).

    ``progress(done, total)`` is called every few hundred examples and at the end.
    """
    started = time.perf_counter()
    path = Path(path)
    out = Path(out)
    examples, _, tasks, info = _prepare(
        path,
        text_col=text_col,
        need_col=need_col,
        satisfaction_col=satisfaction_col,
        satisfaction_scale=satisfaction_scale,
        time_col=time_col,
        shuffle_seed=shuffle_seed,
        language_col=language_col,
    )
    if not tasks:
        raise DatasetError("nothing to evaluate: give a need column and/or a satisfaction column")
    out.mkdir(parents=True, exist_ok=True)
    total = sum(2 * len(task.indices) for task in tasks)
    done = 0
    metrics: dict[str, Any] = {"tasks": {}}
    details: list[dict[str, Any]] = []
    for task in tasks:
        n = len(task.indices)
        if n < 10:
            raise DatasetError(f"task {task.name}: only {n} labelled rows, need at least 10")
        cut = int(n * TRAIN_SHARE)
        stream = [examples[i] for i in task.indices]
        targets = task.targets
        task_started = time.perf_counter()
        model = _online_model(task)
        monitor = ModelHealth(
            model.name, "regression" if task.kind == "regression" else "classification"
        )
        outputs: list[Any] = []
        for step, (x, y) in enumerate(zip(stream, targets, strict=True), 1):
            output = _online_output(task, model.predict_one(x))
            outputs.append(output)
            monitor.update(y, output, model.version)
            model.learn_one(x, y)
            if progress is not None and step % 500 == 0:
                progress(done + step, total)
        online_seconds = time.perf_counter() - task_started
        done += n
        batch_started = time.perf_counter()
        train_x, test_x = stream[:cut], stream[cut:]
        train_y, test_y = targets[:cut], targets[cut:]
        online_test = outputs[cut:]
        entry: dict[str, Any]
        if task.kind == "classification":
            if len(set(train_y)) < 2:
                raise DatasetError(f"task {task.name}: the training part has a single class")
            classifier = BatchTextClassifier().fit(train_x, train_y)
            batch_test = classifier.predict(test_x)
            tuned_started = time.perf_counter()
            tuned = TunedTextClassifier().fit(train_x, train_y)
            tuned_test = tuned.predict(test_x)
            tuned_seconds = time.perf_counter() - tuned_started
            tuned_model, tuned_choice = tuned.describe(), {"C": tuned.best_C}
            entry = {
                "online": {
                    "accuracy": _round(accuracy_score(test_y, online_test)),
                    "macro_f1": _round(
                        f1_score(test_y, online_test, average="macro", zero_division=0)
                    ),
                },
                "batch": {
                    "accuracy": _round(accuracy_score(test_y, batch_test)),
                    "macro_f1": _round(
                        f1_score(test_y, batch_test, average="macro", zero_division=0)
                    ),
                },
                "batch_tuned": {
                    "accuracy": _round(accuracy_score(test_y, tuned_test)),
                    "macro_f1": _round(
                        f1_score(test_y, tuned_test, average="macro", zero_division=0)
                    ),
                },
                "batch_tuned_choice": {**tuned_choice, "cv_rows": tuned.cv_rows},
                "n_test": len(test_y),
            }
            per_step = np.array([float(o == y) for o, y in zip(outputs, targets, strict=True)])
            curve_metric = "accuracy"
        else:
            regressor = BatchTextRegressor().fit(train_x, train_y)
            batch_scores = regressor.predict(test_x)
            tuned_started = time.perf_counter()
            tuned_regressor = TunedTextRegressor().fit(train_x, train_y)
            tuned_scores = tuned_regressor.predict(test_x)
            tuned_seconds = time.perf_counter() - tuned_started
            tuned_model = tuned_regressor.describe()
            entry = {
                "online": {"mae": _round(np.mean(np.abs(np.subtract(test_y, online_test))))},
                "batch": {"mae": _round(np.mean(np.abs(np.subtract(test_y, batch_scores))))},
                "batch_tuned": {"mae": _round(np.mean(np.abs(np.subtract(test_y, tuned_scores))))},
                "batch_tuned_choice": {
                    "alpha": tuned_regressor.best_alpha,
                    "cv_rows": tuned_regressor.cv_rows,
                },
                "n_test": len(test_y),
            }
            per_step = np.abs(np.subtract(targets, outputs, dtype=float))
            curve_metric = "MAE"
        batch_seconds = time.perf_counter() - batch_started - tuned_seconds
        metric_key = "accuracy" if curve_metric == "accuracy" else "mae"
        batch_value = entry["batch"][metric_key]
        tuned_value = entry["batch_tuned"][metric_key]
        done += n
        if progress is not None:
            progress(done, total)
        image = _plot(task, per_step, cut, batch_value, tuned_value, curve_metric, out)
        metrics["tasks"][task.name] = entry
        details.append(
            {
                "task": task,
                "n": n,
                "cut": cut,
                "image": image,
                "online_seconds": online_seconds,
                "batch_seconds": batch_seconds,
                "tuned_seconds": tuned_seconds,
                "tuned_model": tuned_model,
                "drifts": len(monitor.events),
                "classes": sorted({str(t) for t in targets}) if task.kind != "regression" else [],
            }
        )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    runtime = time.perf_counter() - started
    report = _report(path, text_col, info, len(examples), metrics, details, runtime)
    (out / "report.md").write_text(report, encoding="utf-8")
    if progress is not None:
        progress(total, total)
    return metrics


def _report(
    path: Path,
    text_col: str,
    info: Mapping[str, Any],
    n_examples: int,
    metrics: Mapping[str, Any],
    details: Sequence[Mapping[str, Any]],
    runtime: float,
) -> str:
    lines = [
        "# Online models vs batch baselines",
        "",
        f"- Dataset: `{path}` (text column `{text_col}`)",
        f"- Rows read: {info['rows']:,}; without text (skipped): {info['skipped_empty_text']:,};"
        f" in the stream: {n_examples:,}",
        f"- Order: {info['order']}",
        f"- Split: batch trains on the first {TRAIN_SHARE:.0%} of each task's stream and is"
        f" tested on the rest (the tuned batch model chooses its regularization by"
        f" cross-validation within those first {TRAIN_SHARE:.0%}); online models run"
        f" prequentially (predict, then learn) over the whole stream and are scored on the"
        f" same last {1 - TRAIN_SHARE:.0%}.",
        f"- Runtime: {runtime:.1f} s",
        "",
        "## Results",
        "",
        "| task | column | labelled rows | test rows | metric | online | batch | batch tuned"
        " | online - batch | online - batch tuned |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for detail in details:
        task = detail["task"]
        entry = metrics["tasks"][task.name]
        for metric in entry["online"]:
            online, batch = entry["online"][metric], entry["batch"][metric]
            tuned = entry["batch_tuned"][metric]
            lines.append(
                f"| {task.name} | `{task.column}` | {detail['n']:,} | {entry['n_test']:,} |"
                f" {metric} | {online:.4f} | {batch:.4f} | {tuned:.4f} | {online - batch:+.4f}"
                f" | {online - tuned:+.4f} |"
            )
    lines += ["", "(MAE is on the normalized 0..1 scale: lower is better.)", ""]
    lines += ["## Tasks", ""]
    for detail in details:
        task = detail["task"]
        model = (
            "NeedClassifier (River SoftmaxRegression over online TF-IDF)"
            if task.name == "need"
            else "SatisfactionModel (River SoftmaxRegression over online TF-IDF)"
        )
        baseline = "TF-IDF + Ridge" if task.kind == "regression" else "TF-IDF + LogisticRegression"
        lines += [
            f"### {task.name}",
            "",
            f"- Labels: {task.note}; rows without a label skipped for this task",
        ]
        if detail["classes"]:
            shown = ", ".join(detail["classes"][:20])
            lines.append(f"- Classes ({len(detail['classes'])}): {shown}")
        lines += [
            f"- Online: {model}; {detail['online_seconds']:.1f} s for {detail['n']:,} examples"
            f" ({1000 * detail['online_seconds'] / detail['n']:.2f} ms each, predict + learn);"
            f" ADWIN drifts on its error stream: {detail['drifts']}",
            f"- Batch: scikit-learn {baseline} (shared tokenizer),"
            f" {detail['batch_seconds']:.1f} s to fit {detail['cut']:,} and predict"
            f" {detail['n'] - detail['cut']:,}",
            f"- Batch tuned: scikit-learn {detail['tuned_model']} (on the first"
            f" {detail['cut']:,} only), {detail['tuned_seconds']:.1f} s to choose, fit and"
            f" predict",
            "",
            f"![{task.name} learning curve]({detail['image']})",
            "",
        ]
    return "\n".join(lines)


# -- bootstrap -----------------------------------------------------------------------------


def bootstrap(
    path: Path,
    *,
    text_col: str,
    need_col: str | None = None,
    satisfaction_col: str | None = None,
    satisfaction_scale: tuple[float, float] | None = None,
    priority_col: str | None = None,
    time_col: str | None = None,
    shuffle_seed: int | None = None,
    language_col: str | None = None,
    emerging: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, BaseOnlineModel[Example, Any]]:
    """Warm-start the online models from a history file (learning only); return them by name.

    Always ``keywords`` (document frequencies) and, unless ``emerging=False``,
    ``emerging`` (clusters of the history); ``need``, ``satisfaction`` (scores or
    sentiment labels, as :func:`detect_satisfaction` reads them) and ``urgency`` (P1..P4)
    when their column is given.
    """
    examples, kept, tasks, _ = _prepare(
        Path(path),
        text_col=text_col,
        need_col=need_col,
        satisfaction_col=satisfaction_col,
        satisfaction_scale=satisfaction_scale,
        time_col=time_col,
        shuffle_seed=shuffle_seed,
        language_col=language_col,
    )
    models: dict[str, BaseOnlineModel[Example, Any]] = {"keywords": KeywordExtractor()}
    if emerging:
        models["emerging"] = EmergingNeeds()
    by_index: dict[str, dict[int, Any]] = {}
    for task in tasks:
        name = "need" if task.name == "need" else "satisfaction"
        models[name] = _online_model(task)
        by_index[name] = dict(zip(task.indices, task.targets, strict=True))
    priorities: dict[int, str] = {}
    if priority_col:
        models["urgency"] = UrgencyModel()
        priorities = {i: _cell(r, priority_col) for i, r in enumerate(kept)}
        priorities = {i: p for i, p in priorities.items() if p}
    total = len(examples)
    for i, x in enumerate(examples):
        models["keywords"].learn_one(x, None)
        if emerging:
            models["emerging"].learn_one(x, None)
        for name, targets in by_index.items():
            if i in targets:
                models[name].learn_one(x, targets[i])
        if i in priorities:
            need = by_index.get("need", {}).get(i)
            satisfaction = by_index.get("satisfaction", {}).get(i)
            score = (
                SENTIMENT_SCORES.get(satisfaction)
                if isinstance(satisfaction, str)
                else satisfaction
            )
            urgency = models["urgency"]
            assert isinstance(urgency, UrgencyModel)
            urgency.learn_one(x, priorities[i], need=need, satisfaction=score)
        if progress is not None and (i + 1) % 500 == 0:
            progress(i + 1, total)
    if progress is not None:
        progress(total, total)
    return models
