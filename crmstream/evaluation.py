"""``crmstream eval`` and ``crmstream bootstrap`` on a labelled file: read, learn, report.

:func:`run_evaluation` reads the file (:mod:`crmstream.labelled`), evaluates the online
models against the batch baselines (:func:`models.evaluate.evaluate_tasks`) and writes
``metrics.json``, ``report.md`` and one learning-curve PNG per task to ``out``.
:func:`bootstrap` warm-starts the online models from a history file (learning only).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from crmstream.errors import DatasetError
from crmstream.labelled import LabelledColumns, cell, read_labelled
from models.evaluate import TRAIN_SHARE, EvaluationTask, evaluate_tasks, learn_history
from models.features import Example
from models.protocol import BaseOnlineModel

__all__ = ["bootstrap", "run_evaluation"]


def _rolling(values: np.ndarray, window: int) -> np.ndarray:
    cumulative = np.concatenate(([0.0], np.cumsum(values, dtype=float)))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(0, ends - window)
    return (cumulative[ends] - cumulative[starts]) / (ends - starts)


def _plot(
    task: EvaluationTask,
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


def run_evaluation(
    path: Path,
    columns: LabelledColumns,
    *,
    out: Path,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Evaluate the online models on a labelled file; write ``out``; return the metrics.

    ``columns`` says which columns hold the text and the labels and in which order the
    rows are read (:class:`crmstream.labelled.LabelledColumns`; ``priority`` is not
    evaluated).

    The returned dict is what ``out/metrics.json`` holds: the metrics of
    :func:`models.evaluate.evaluate_tasks`, which describes their shape.

    ``progress(done, total)`` is called every few hundred examples and at the end.
    """
    started = time.perf_counter()
    path = Path(path)
    out = Path(out)
    examples, _, tasks, info = read_labelled(path, columns)
    if not tasks:
        raise DatasetError("nothing to evaluate: give a need column and/or a satisfaction column")
    out.mkdir(parents=True, exist_ok=True)
    metrics, details = evaluate_tasks(examples, tasks, progress)
    total = sum(2 * len(task.indices) for task in tasks)
    for detail in details:
        detail["image"] = _plot(
            detail["task"],
            detail["per_step"],
            detail["cut"],
            detail["batch_value"],
            detail["tuned_value"],
            detail["curve_metric"],
            out,
        )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    runtime = time.perf_counter() - started
    report = _report(path, columns.text, info, len(examples), metrics, details, runtime)
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


def bootstrap(
    path: Path,
    columns: LabelledColumns,
    *,
    emerging: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, BaseOnlineModel[Example, Any]]:
    """Warm-start the online models from a history file (learning only); return them by name.

    Always ``keywords`` (document frequencies) and, unless ``emerging=False``,
    ``emerging`` (clusters of the history); ``need``, ``satisfaction`` (scores or
    sentiment labels, as :func:`crmstream.labelled.detect_satisfaction` reads them) and
    ``urgency`` (P1..P4) when ``columns`` names their column.
    """
    examples, kept, tasks, _ = read_labelled(Path(path), columns)
    priorities: dict[int, str] = {}
    if priority_col := columns.priority:
        priorities = {i: cell(r, priority_col) for i, r in enumerate(kept)}
        priorities = {i: p for i, p in priorities.items() if p}
    return learn_history(examples, tasks, priorities, emerging=emerging, progress=progress)
