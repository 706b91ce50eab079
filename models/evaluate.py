"""Online models against scikit-learn batch baselines on labelled examples, in memory.

:func:`evaluate_tasks` takes the examples in stream order and the tasks their labels allow
(:mod:`crmstream.labelled` reads them from a file) and, for each task:

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

It returns the metrics and per-task details; :mod:`crmstream.evaluation` writes them as
``metrics.json``, ``report.md`` and learning curves. :func:`learn_history` warm-starts the
online models on a history (learning only).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from crmstream.errors import DatasetError
from models.baselines import (
    BatchTextClassifier,
    BatchTextRegressor,
    TunedTextClassifier,
    TunedTextRegressor,
)
from models.emerging import EmergingNeeds
from models.features import Example, with_context
from models.health import ModelHealth
from models.keywords import KeywordExtractor
from models.need import NeedClassifier
from models.protocol import BaseOnlineModel
from models.satisfaction import SENTIMENT_SCORES, SatisfactionModel
from models.urgency import UrgencyModel

__all__ = [
    "TRAIN_SHARE",
    "EvaluationTask",
    "evaluate_tasks",
    "learn_history",
    "online_model",
]

#: Share of each task's stream the batch baseline trains on; the rest is the test part.
TRAIN_SHARE = 0.8


@dataclass
class EvaluationTask:
    """One task of a labelled stream: which examples carry its label, and the labels."""

    name: str  # need | sentiment | satisfaction
    column: str
    kind: str  # classification | regression
    indices: list[int] = field(default_factory=list)  # positions in the example stream
    targets: list[Any] = field(default_factory=list)
    note: str = ""


def online_model(task: EvaluationTask) -> BaseOnlineModel[Example, Any]:
    """A fresh online model for the task (need, or satisfaction for both other tasks)."""
    return NeedClassifier() if task.name == "need" else SatisfactionModel()


def _online_output(task: EvaluationTask, prediction: Any) -> Any:
    if task.name == "need":
        return prediction.label if prediction.label is not None else ""
    if task.name == "sentiment":
        return prediction.sentiment
    return prediction.score


def _round(value: Any) -> float:
    return round(float(value), 4)


def _classification_scores(truth: Sequence[Any], predicted: Sequence[Any]) -> dict[str, float]:
    """Accuracy and macro F1 of predicted labels, rounded for the report.

    >>> _classification_scores(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    {'accuracy': 0.75, 'macro_f1': 0.7333}
    """
    return {
        "accuracy": _round(accuracy_score(truth, predicted)),
        "macro_f1": _round(f1_score(truth, predicted, average="macro", zero_division=0)),
    }


def _regression_scores(truth: Sequence[float], predicted: Sequence[float]) -> dict[str, float]:
    """The mean absolute error of predicted scores, rounded for the report.

    >>> _regression_scores([0.0, 1.0], [0.25, 0.5])
    {'mae': 0.375}
    """
    return {"mae": _round(np.mean(np.abs(np.subtract(truth, predicted))))}


def evaluate_tasks(
    examples: Sequence[Example],
    tasks: Sequence[EvaluationTask],
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Evaluate the online models against the batch baselines on each task.

    Returns the metrics (what ``metrics.json`` holds)::

        {"tasks": {"need": {"online": {"accuracy", "macro_f1"}, "batch": {...},
                            "batch_tuned": {...}, "batch_tuned_choice": {"C", "cv_rows"},
                            "n_test"},
                   "sentiment": {...},
                   "satisfaction": {"online": {"mae"}, "batch": {...}, "batch_tuned": {...},
                                    "batch_tuned_choice": {"alpha", "cv_rows"}, "n_test"}}}

    ``batch_tuned_choice`` is what the tuned baseline's cross-validation chose, and on how
    many rows (the training part's). With them, one detail per task for the report: its
    sizes and timings, and the online model's per-example score (``per_step``) for the
    learning curve.

    ``progress(done, total)`` is called every few hundred examples and after each task.
    """
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
        model = online_model(task)
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
        batch: BatchTextClassifier | BatchTextRegressor
        tuned: TunedTextClassifier | TunedTextRegressor
        if task.kind == "classification":
            if len(set(train_y)) < 2:
                raise DatasetError(f"task {task.name}: the training part has a single class")
            batch, tuned = BatchTextClassifier(), TunedTextClassifier()
            scores, curve_metric = _classification_scores, "accuracy"
            per_step = np.array([float(o == y) for o, y in zip(outputs, targets, strict=True)])
        else:
            batch, tuned = BatchTextRegressor(), TunedTextRegressor()
            scores, curve_metric = _regression_scores, "MAE"
            per_step = np.abs(np.subtract(targets, outputs, dtype=float))
        batch_test = batch.fit(train_x, train_y).predict(test_x)
        tuned_started = time.perf_counter()
        tuned_test = tuned.fit(train_x, train_y).predict(test_x)
        tuned_seconds = time.perf_counter() - tuned_started
        entry: dict[str, Any] = {
            "online": scores(test_y, online_test),
            "batch": scores(test_y, batch_test),
            "batch_tuned": scores(test_y, tuned_test),
            # What the cross-validation chose (C or alpha), and on how many rows.
            "batch_tuned_choice": {tuned.parameter: tuned.best, "cv_rows": tuned.cv_rows},
            "n_test": len(test_y),
        }
        batch_seconds = time.perf_counter() - batch_started - tuned_seconds
        metric_key = "accuracy" if curve_metric == "accuracy" else "mae"
        batch_value = entry["batch"][metric_key]
        tuned_value = entry["batch_tuned"][metric_key]
        done += n
        if progress is not None:
            progress(done, total)
        metrics["tasks"][task.name] = entry
        details.append(
            {
                "task": task,
                "n": n,
                "cut": cut,
                "per_step": per_step,
                "curve_metric": curve_metric,
                "batch_value": batch_value,
                "tuned_value": tuned_value,
                "online_seconds": online_seconds,
                "batch_seconds": batch_seconds,
                "tuned_seconds": tuned_seconds,
                "tuned_model": tuned.describe(),
                "drifts": len(monitor.events),
                "classes": sorted({str(t) for t in targets}) if task.kind != "regression" else [],
            }
        )
    return metrics, details


def learn_history(
    examples: Sequence[Example],
    tasks: Sequence[EvaluationTask],
    priorities: Mapping[int, str],
    *,
    emerging: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, BaseOnlineModel[Example, Any]]:
    """Warm-start the online models on a history (learning only); return them by name.

    Always ``keywords`` (document frequencies) and, unless ``emerging=False``,
    ``emerging`` (clusters of the history); ``need`` and ``satisfaction`` for their
    tasks, and ``urgency`` when some example has a priority (P1..P4, by position in
    ``examples``).
    """
    models: dict[str, BaseOnlineModel[Example, Any]] = {"keywords": KeywordExtractor()}
    if emerging:
        models["emerging"] = EmergingNeeds()
    by_index: dict[str, dict[int, Any]] = {}
    for task in tasks:
        name = "need" if task.name == "need" else "satisfaction"
        models[name] = online_model(task)
        by_index[name] = dict(zip(task.indices, task.targets, strict=True))
    if priorities:
        models["urgency"] = UrgencyModel()
    total = len(examples)
    for i, x in enumerate(examples):
        models["keywords"].learn_one(x, None)
        if emerging:  # labelled texts are its baseline of known needs
            models["emerging"].learn_one(x, by_index.get("need", {}).get(i))
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
            urgency.learn_one(with_context(x, need, score), priorities[i])
        if progress is not None and (i + 1) % 500 == 0:
            progress(i + 1, total)
    if progress is not None:
        progress(total, total)
    return models
