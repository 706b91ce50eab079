"""Health: progressive validation, rolling metrics and ADWIN drift events."""

from __future__ import annotations

import random

import pytest

from models.features import Example
from models.health import DriftEvent, Health, ModelHealth
from models.need import NeedClassifier
from models.satisfaction import SatisfactionModel

BILLING = ["charged twice on my card", "wrong amount on the invoice", "my bill is too high"]
DELIVERY = ["where is my parcel", "the courier is late", "package never arrived"]


def labelled(rng: random.Random, swapped: bool) -> tuple[Example, str]:
    """Billing/delivery texts; after the concept change their labels are swapped."""
    if rng.random() < 0.5:
        return Example(rng.choice(BILLING)), "delivery" if swapped else "billing"
    return Example(rng.choice(DELIVERY)), "billing" if swapped else "delivery"


def test_concept_change_raises_a_drift_event() -> None:
    rng = random.Random(0)
    received: list[DriftEvent] = []
    health = Health(window=200, on_drift=received.append)
    model = NeedClassifier()
    health.watch(model, "classification", target=lambda p: p.label)
    events: list[DriftEvent] = []
    for i in range(1200):
        _, event = health.step(model, *labelled(rng, swapped=i >= 600))
        if event is not None:
            events.append(event)
    assert model.version == 1200
    drift_after_change = [e for e in events if e.at_version >= 600]
    assert drift_after_change, "ADWIN missed the concept change"
    first = drift_after_change[0]
    assert first.model == "need" and first.metric == "error_rate"
    assert 600 <= first.at_version < 800
    assert not [e for e in events if 100 <= e.at_version < 600]  # stable concept: quiet
    assert received == events
    report = health.report()["need"]
    assert report["accuracy"] > 0.9  # the model re-learned the swapped labels
    assert report["n"] == 1200 and report["drifts"] == len(events)


def test_stable_stream_has_no_drift() -> None:
    rng = random.Random(1)
    monitor = ModelHealth("need", "classification", window=100)
    events = [
        monitor.update("a", "a" if rng.random() < 0.8 else "b", at_version=i) for i in range(3000)
    ]
    assert [e for e in events if e is not None] == []
    assert 0.65 < monitor.report()["accuracy"] < 0.95
    assert 0.0 < monitor.report()["macro_f1"] <= 1.0


def test_regression_mae_and_drift() -> None:
    monitor = ModelHealth("satisfaction", "regression", window=50, clock=8)
    events = []
    for i in range(1000):
        error = 0.05 if i < 500 else 0.6
        event = monitor.update(0.5, 0.5 + error, at_version=i)
        if event:
            events.append(event)
    assert monitor.report()["mae"] == pytest.approx(0.6)
    assert events and events[0].metric == "absolute_error" and events[0].at_version >= 500
    assert events[0].value > 0.2  # mean absolute error over the last 50, mostly new


def test_step_needs_watch_and_rolling_window() -> None:
    health = Health(window=10)
    model = SatisfactionModel()
    with pytest.raises(KeyError):
        health.step(model, Example("great"), "positive")
    health.watch(model, "classification", target=lambda p: p.sentiment)
    for _ in range(30):
        health.step(model, Example("great service"), "positive")
        health.step(model, Example("awful service"), "negative")
    assert health.report()["satisfaction"]["accuracy"] == 1.0  # only the last 10 count
    with pytest.raises(ValueError, match="kind"):
        ModelHealth("x", "ranking")  # type: ignore[arg-type]
