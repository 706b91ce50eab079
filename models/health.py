"""Model health: progressive validation (predict, then learn) with rolling metrics and drift.

Each monitored model gets a :class:`ModelHealth`: rolling accuracy and macro-F1 for a
classifier, rolling MAE for a regressor (River :class:`~river.utils.Rolling` over
:mod:`river.metrics`), and River's :class:`~river.drift.ADWIN` on the error stream (0/1
mistakes, or absolute errors). When ADWIN detects a change, a :class:`DriftEvent` is
returned, kept in ``events`` and passed to ``on_drift`` if one is set; its ``value`` is the
mean error over the last ``recent`` predictions (ADWIN's own window still holds mostly the
old concept at the moment it fires, and River resets it on the next update).

>>> health = ModelHealth("need", "classification", window=100, clock=1)
>>> events = []
>>> for i in range(400):
...     right = i < 200 or i % 3 == 0   # accurate, then mostly wrong
...     event = health.update("billing", "billing" if right else "refund", at_version=i)
...     if event:
...         events.append(event)
>>> events[0].model, events[0].metric, 200 < events[0].at_version < 260
('need', 'error_rate', True)
>>> round(health.report()["accuracy"], 2)
0.34
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from river import drift, metrics, stats, utils

from models.protocol import OnlineModel

__all__ = ["DriftEvent", "Health", "ModelHealth"]

Kind = Literal["classification", "regression"]


@dataclass(frozen=True)
class DriftEvent:
    """ADWIN saw the error of ``model`` change; ``value`` is the recent mean error."""

    model: str
    metric: str
    value: float
    at_version: int


class ModelHealth:
    """Rolling metrics and ADWIN drift detection for one model."""

    def __init__(
        self,
        model: str,
        kind: Kind,
        *,
        window: int = 500,
        delta: float = 0.002,
        clock: int = 32,
        recent: int = 50,
        on_drift: Callable[[DriftEvent], None] | None = None,
        max_events: int = 100,
    ) -> None:
        if kind not in ("classification", "regression"):
            raise ValueError(f"kind must be classification or regression, not {kind!r}")
        self.model = model
        self.kind = kind
        self.window = window
        self.delta = delta
        self.clock = clock
        self.on_drift = on_drift
        self.n = 0
        self.rolling: dict[str, Any] = {}
        if kind == "classification":
            self.rolling["accuracy"] = utils.Rolling(metrics.Accuracy, window_size=window)
            self.rolling["macro_f1"] = utils.Rolling(metrics.MacroF1, window_size=window)
            self.metric = "error_rate"
        else:
            self.rolling["mae"] = utils.Rolling(metrics.MAE, window_size=window)
            self.metric = "absolute_error"
        self.detector = drift.ADWIN(delta=delta, clock=clock)
        self.recent: Any = utils.Rolling(stats.Mean, window_size=recent)
        self.events: deque[DriftEvent] = deque(maxlen=max_events)

    def update(self, y_true: Any, y_pred: Any, at_version: int) -> DriftEvent | None:
        """Score one prediction (made before learning ``y_true``); return a drift event, if any."""
        if self.kind == "classification":
            error = 0.0 if y_true == y_pred else 1.0
        else:
            error = abs(float(y_true) - float(y_pred))
        for metric in self.rolling.values():
            metric.update(y_true, y_pred)
        self.n += 1
        self.recent.update(error)
        self.detector.update(error)
        if not self.detector.drift_detected:
            return None
        event = DriftEvent(self.model, self.metric, float(self.recent.get()), at_version)
        self.events.append(event)
        if self.on_drift is not None:
            self.on_drift(event)
        return event

    def report(self) -> dict[str, float]:
        """The rolling metrics, the number of scored predictions and of drifts."""
        report = {name: float(metric.get()) for name, metric in self.rolling.items()}
        report["n"] = float(self.n)
        report["recent_error"] = float(self.recent.get())
        report["drifts"] = float(len(self.events))
        return report

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["on_drift"] = None  # callbacks are wiring, not state
        return state


class Health:
    """Progressive validation of several models: predict, score, then learn.

    ``target`` maps a model's prediction to what its label is compared with (e.g.
    ``lambda p: p.label`` for the need classifier; not pickled: after a restore, call
    :meth:`watch` again to set it).

    >>> from models.features import Example
    >>> from models.need import NeedClassifier
    >>> health = Health(window=50)
    >>> need = NeedClassifier()
    >>> health.watch(need, "classification", target=lambda p: p.label)
    >>> for text, label in [("refund please", "refund"), ("where is my parcel", "delivery")] * 5:
    ...     _ = health.step(need, Example(text), label)
    >>> health.report()["need"]["accuracy"] > 0.5
    True
    """

    def __init__(
        self,
        *,
        window: int = 500,
        delta: float = 0.002,
        clock: int = 32,
        on_drift: Callable[[DriftEvent], None] | None = None,
    ) -> None:
        self.window = window
        self.delta = delta
        self.clock = clock
        self.on_drift = on_drift
        self.monitors: dict[str, ModelHealth] = {}
        self._targets: dict[str, Callable[[Any], Any]] = {}

    def watch(
        self, model: OnlineModel[Any, Any], kind: Kind, target: Callable[[Any], Any] | None = None
    ) -> None:
        """Start monitoring ``model`` (by its name); an existing monitor is kept."""
        self._targets[model.name] = target if target is not None else _identity
        if model.name in self.monitors:
            return
        self.monitors[model.name] = ModelHealth(
            model.name,
            kind,
            window=self.window,
            delta=self.delta,
            clock=self.clock,
            on_drift=self.on_drift,
        )

    def observe(self, model: str, y_true: Any, y_pred: Any, at_version: int) -> DriftEvent | None:
        """Score a prediction made elsewhere (already mapped by ``target``)."""
        return self.monitors[model].update(y_true, y_pred, at_version)

    def step(
        self, model: OnlineModel[Any, Any], x: Any, y: Any, y_true: Any = None
    ) -> tuple[Any, DriftEvent | None]:
        """Predict ``x``, score the prediction against ``y`` (or ``y_true``), then learn ``y``."""
        if model.name not in self.monitors:
            raise KeyError(f"model {model.name!r} is not watched: call watch() first")
        prediction = model.predict_one(x)
        compared = self._targets.get(model.name, _identity)(prediction)
        event = self.observe(model.name, y if y_true is None else y_true, compared, model.version)
        model.learn_one(x, y)
        return prediction, event

    def report(self) -> dict[str, dict[str, float]]:
        """Each watched model's rolling metrics."""
        return {name: monitor.report() for name, monitor in self.monitors.items()}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["on_drift"] = None
        state["_targets"] = {}
        return state


def _identity(value: Any) -> Any:
    return value
