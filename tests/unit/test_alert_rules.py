"""Alert rules: the config, each rule kind, episodes (de-duplication, cooldown, ids)."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas.events import Alert, FeedbackEvent
from streams.aggregates import Aggregate, Baseline, Dimension, KeyWindows, WindowSpec, to_ms
from streams.alert_config import (
    AlertRules,
    AlertRulesError,
    SurgeRule,
    load_rules,
    parse_duration,
    parse_rules,
)
from streams.alert_engine import AlertEngine, alert_id
from streams.deltas import Delta, delta_key, deltas_from_feedback

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "alerts.yml"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T0_MS = to_ms(T0)
MIN = 60_000

LOW_RATINGS = {
    "kind": "threshold",
    "name": "rated_low",
    "dimension": "agent",
    "severity": "warning",
    "metric": "rated_satisfaction",
    "below": 0.4,
    "clear_margin": 0.1,
    "min_samples": 2,
}


def engine_for(*rules: dict[str, Any], windows: dict[str, Any] | None = None) -> AlertEngine:
    return AlertEngine(parse_rules({"windows": windows or {"size": "1m"}, "rules": list(rules)}))


class Feed:
    """Drives an engine the way the alerts agent does: one JSON state per key, as bytes."""

    def __init__(self, engine: AlertEngine) -> None:
        self.engine = engine
        self.states: dict[bytes, bytes] = {}
        self.alerts: list[Alert] = []

    def send(self, dimension: Dimension, key: str, at_ms: int, part: Aggregate) -> list[Alert]:
        return self.apply(Delta(dimension, key, self.engine.spec.bucket(at_ms), part))

    def apply(self, delta: Delta) -> list[Alert]:
        name = delta_key(delta.dimension, delta.key)
        raw = self.states.get(name)
        state, alerts = self.engine.apply(orjson.loads(raw) if raw else None, delta, NOW)
        self.states[name] = orjson.dumps(state)
        self.alerts += alerts
        return alerts

    def state(self, dimension: Dimension, key: str) -> dict[str, Any]:
        loaded: dict[str, Any] = orjson.loads(self.states[delta_key(dimension, key)])
        return loaded

    def ratings(self, key: str, at_ms: int, *scores: float) -> list[Alert]:
        out: list[Alert] = []
        for score in scores:
            out += self.send("agent", key, at_ms, Aggregate.for_rating(score))
        return out


def states(alerts: Iterable[Alert]) -> list[tuple[str, str, str]]:
    return [(a.rule, a.key, a.state) for a in alerts]


# -- Config ----------------------------------------------------------------------------


def test_the_shipped_config_loads_and_says_what_ops_expect() -> None:
    rules = load_rules(SHIPPED)
    assert rules.windows.spec() == WindowSpec(size_s=600, step_s=60, grace_s=120)
    by_name = {rule.name: rule for rule in rules.rules}
    assert list(by_name) == [
        "agent_rated_satisfaction_low",
        "agent_satisfaction_low",
        "channel_satisfaction_drop",
        "customer_at_risk",
        "need_surge",
        "negative_sentiment_surge",
        "agent_response_time_high",
    ]
    kinds = {name: (rule.kind, rule.dimension, rule.severity) for name, rule in by_name.items()}
    assert kinds["customer_at_risk"] == ("at_risk", "customer", "critical")
    assert kinds["need_surge"] == ("surge", "need", "info")
    response = by_name["agent_response_time_high"]
    assert response.kind == "threshold" and response.above == 4 * 3600
    assert by_name["customer_at_risk"].cooldown == 24 * 3600
    engine = AlertEngine(rules)
    assert engine.dimensions == {"customer", "agent", "channel", "need"}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("10m", 600), ("2h", 7200), ("1d", 86400), (" 1.5h ", 5400), (30, 30),
     ("45", 45), (0, 0)],
)  # fmt: skip
def test_durations(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["10 minutes", "1w", "-5m", -1, True, None, "", float("inf")])
def test_bad_durations(text: Any) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def config_with(**changes: Any) -> dict[str, Any]:
    rule = {**LOW_RATINGS, **changes}
    return {"windows": {"size": "10m", "step": "1m"}, "rules": [rule]}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (config_with(kind="spike"), "rules.0.kind: unknown rule kind 'spike'"),
        ({"windows": {"size": 60}, "rules": [{"name": "x"}]}, "rules.0.kind: missing"),
        (config_with(above=0.9), "rules.0.above: give exactly one of 'below' or 'above'"),
        (config_with(below=None), "rules.0.below: give exactly one of 'below' or 'above'"),
        (config_with(cooldown="soon"), "rules.0.cooldown: expected a duration"),
        (config_with(treshold=0.3), "rules.0.treshold: Extra inputs are not permitted"),
        (config_with(dimension="planet"), "rules.0.dimension: "),
        (config_with(severity="page"), "rules.0.severity: "),
        (config_with(metric="happiness"), "rules.0.metric: "),
        (config_with(dimension="channel"), "rules.0.metric: ratings carry no channel"),
        (config_with(name="rated low"), "rules.0.name: 'rated low' is not an identifier"),
        (config_with(min_samples=0), "rules.0.min_samples: "),
        (config_with(kind="drop", below=None), "rules.0.k_sigma: Field required"),
        (config_with(kind="surge", below=None, factor=2), "rules.0.metric: "),
        ({"windows": {"size": "10m", "step": "7m"}}, "windows.step: window size"),
        ({"windows": {"size": "ten"}}, "windows.size: expected a duration"),
        ({"rules": []}, "windows: Field required"),
        ([1, 2], "expected a mapping"),
    ],
)
def test_config_errors_name_the_failing_field(config: Any, expected: str) -> None:
    with pytest.raises(AlertRulesError) as caught:
        parse_rules(config)
    lines = str(caught.value).splitlines()
    assert any(line.startswith(f"<string>: {expected}") for line in lines), lines
    assert isinstance(caught.value, ValueError)


def test_duplicate_rule_names_are_refused() -> None:
    config = config_with()
    config["rules"].append({**LOW_RATINGS, "below": 0.3})
    with pytest.raises(AlertRulesError, match=r"^<string>: rules\.1\.name: duplicate rule name"):
        parse_rules(config)


def test_load_rules_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "alerts.yml"
    bad.write_text(
        "windows: {size: 10m}\nrules:\n  - {kind: threshold, name: a, dimension: agent,\n"
        "     severity: info, metric: volume, below: 1, above: 2}\n"
    )
    with pytest.raises(AlertRulesError, match=rf"^{bad}: rules\.0\.above: give exactly one"):
        load_rules(bad)
    bad.write_text("windows: [")
    with pytest.raises(AlertRulesError, match=rf"^{bad}: not valid YAML"):
        load_rules(bad)
    with pytest.raises(AlertRulesError, match="cannot read"):
        load_rules(tmp_path / "missing.yml")


def test_windows_default_to_tumbling_with_no_grace() -> None:
    rules = parse_rules({"windows": {"size": "5m"}})
    assert rules.windows.spec() == WindowSpec(300, 300, 0, 0.2)
    assert rules.rules == []
    assert isinstance(rules, AlertRules)


# -- Threshold rules -------------------------------------------------------------------


def test_threshold_fires_then_holds_in_its_hysteresis_band_then_resolves() -> None:
    feed = Feed(engine_for(LOW_RATINGS))
    assert feed.ratings("a1", T0_MS, 0.2) == []  # one rating: below min_samples
    (fired,) = feed.ratings("a1", T0_MS, 0.2)
    assert (fired.state, fired.rule, fired.severity) == ("firing", "rated_low", "warning")
    assert (fired.dimension, fired.key, fired.value, fired.threshold) == ("agent", "a1", 0.2, 0.4)
    assert fired.samples == 2 and fired.fired_at == NOW
    assert (fired.window_start, fired.window_end) == (T0, T0 + timedelta(minutes=1))
    assert fired.window_start.tzinfo is not None
    assert fired.message == (
        "Mean rated satisfaction of agent a1 is 0.20 over 2 ratings in "
        "2026-03-02 09:00–09:01 UTC, below 0.40"
    )
    # Next minute: 0.45 is no longer below 0.40, but not yet 0.50 (the clear margin).
    assert feed.ratings("a1", T0_MS + MIN, 0.45, 0.45) == []
    # Then good ratings; the first alone is too few to say anything.
    assert feed.ratings("a1", T0_MS + 2 * MIN, 0.6) == []
    (resolved,) = feed.ratings("a1", T0_MS + 2 * MIN, 0.6)
    assert resolved.state == "resolved" and resolved.alert_id == fired.alert_id
    assert resolved.threshold == 0.5 and "back at or above 0.50" in resolved.message
    # A new episode has a new id.
    (again,) = feed.ratings("a1", T0_MS + 3 * MIN, 0.1, 0.1)
    assert again.state == "firing" and again.alert_id != fired.alert_id


def test_threshold_above_with_a_duration_bound() -> None:
    rule = {
        "kind": "threshold",
        "name": "slow",
        "dimension": "agent",
        "severity": "info",
        "metric": "response_time_s",
        "above": "4h",
    }
    feed = Feed(engine_for(rule))
    (fired,) = feed.send("agent", "a1", T0_MS, Aggregate.for_response(5 * 3600))
    assert fired.threshold == 14400 and "is 5.0h over 1 response" in fired.message
    assert "above 4.0h" in fired.message
    (resolved,) = feed.send("agent", "a1", T0_MS + MIN, Aggregate.for_response(600))
    assert resolved.state == "resolved" and resolved.alert_id == fired.alert_id


def test_min_samples_keeps_a_rule_silent_both_ways() -> None:
    feed = Feed(engine_for({**LOW_RATINGS, "min_samples": 5}))
    assert feed.ratings("a1", T0_MS, 0.0, 0.0, 0.0, 0.0) == []
    assert len(feed.ratings("a1", T0_MS, 0.0)) == 1
    # A new window with a few perfect ratings is not enough evidence to resolve.
    assert feed.ratings("a1", T0_MS + MIN, 1.0, 1.0, 1.0, 1.0) == []
    assert feed.engine.active(feed.state("agent", "a1")) == [("rated_low", "warning")]
    assert states(feed.ratings("a1", T0_MS + MIN, 1.0)) == [("rated_low", "a1", "resolved")]


def test_only_rules_of_the_delta_dimension_are_evaluated() -> None:
    feed = Feed(engine_for(LOW_RATINGS))
    assert feed.engine.dimensions == {"agent"}
    for _ in range(5):
        assert feed.send("customer", "c1", T0_MS, Aggregate.for_rating(0.0)) == []


# -- Drop rules ------------------------------------------------------------------------

DROP = {
    "kind": "drop",
    "name": "chat_drop",
    "dimension": "channel",
    "severity": "warning",
    "metric": "satisfaction",
    "k_sigma": 3,
    "min_std": 0.02,
    "min_samples": 3,
    "min_baseline_windows": 5,
}


def messages(feed: Feed, minute: int, *scores: float) -> list[Alert]:
    out: list[Alert] = []
    for i, score in enumerate(scores):
        at = T0_MS + minute * MIN + i * 1000
        out += feed.send("channel", "chat", at, Aggregate.for_message(score, "neutral", 0.1))
    return out


def test_drop_needs_a_baseline_then_fires_freezes_it_and_resolves() -> None:
    feed = Feed(engine_for(DROP))
    normal = (0.68, 0.69, 0.70, 0.71, 0.72)
    # A drop before 5 windows of history says nothing.
    for minute in range(3):
        assert messages(feed, minute, *normal) == []
    assert messages(feed, 3, 0.1, 0.1, 0.1) == []
    for minute in range(4, 12):
        assert messages(feed, minute, *normal) == []
    fired = messages(feed, 12, 0.30, 0.30, 0.30)
    assert states(fired) == [("chat_drop", "chat", "firing")]
    before = feed.state("channel", "chat")["kw"]["b"]["satisfaction"]
    assert before["n"] == 12  # minutes 0-11, including the early drop
    usual = Baseline(before["m"], before["v"], before["n"])
    assert fired[0].threshold == pytest.approx(usual.mean - 3 * max(usual.std, 0.02))
    assert "usually" in fired[0].message and "below" in fired[0].message
    # The incident goes on: its windows close without being learned.
    for minute in range(13, 18):
        assert messages(feed, minute, 0.3, 0.3, 0.3) == []
    assert feed.state("channel", "chat")["kw"]["b"]["satisfaction"] == before

    (resolved,) = messages(feed, 18, *normal)
    assert resolved.state == "resolved" and resolved.alert_id == fired[0].alert_id
    messages(feed, 19, *normal)  # closes minute 18: learning again
    assert feed.state("channel", "chat")["kw"]["b"]["satisfaction"]["n"] == before["n"] + 1


# -- At-risk rules ---------------------------------------------------------------------

AT_RISK = {
    "kind": "at_risk",
    "name": "at_risk",
    "severity": "critical",
    "max_satisfaction": 0.15,
    "min_urgency": 0.8,
    "cooldown": "1h",
}


def test_at_risk_needs_both_low_satisfaction_and_high_urgency() -> None:
    feed = Feed(engine_for(AT_RISK))
    assert feed.engine.rules.rules[0].dimension == "customer"
    angry_but_calm = Aggregate.for_message(0.05, "negative", 0.5)
    assert feed.send("customer", "c1", T0_MS, angry_but_calm) == []
    (fired,) = feed.send("customer", "c1", T0_MS, Aggregate.for_message(0.1, "negative", 0.95))
    assert (fired.severity, fired.threshold) == ("critical", 0.15)
    assert fired.value == pytest.approx(0.075)
    assert fired.message == (
        "Customer c1 is at risk: mean predicted satisfaction 0.08 (at most 0.15) and urgency"
        " 0.95 (at least 0.80) over 2 messages in 2026-03-02 09:00–09:01 UTC"
    )
    (resolved,) = feed.send("customer", "c1", T0_MS + MIN, Aggregate.for_message(0.8, None, 0.2))
    assert resolved.state == "resolved" and resolved.alert_id == fired.alert_id
    # Another customer is another key: its own episode.
    (other,) = feed.send("customer", "c2", T0_MS, Aggregate.for_message(0.0, None, 1.0))
    assert other.key == "c2" and other.alert_id != fired.alert_id


# -- Surge rules -----------------------------------------------------------------------

SURGE = {
    "kind": "surge",
    "name": "refund_surge",
    "dimension": "need",
    "severity": "info",
    "metric": "volume",
    "factor": 3,
    "min_value": 5,
    "min_baseline_windows": 3,
}


def test_surge_fires_at_the_largest_bound_and_is_not_learned() -> None:
    feed = Feed(engine_for(SURGE))

    def burst(minute: int, count: int) -> list[Alert]:
        out: list[Alert] = []
        for i in range(count):
            out += feed.send("need", "refund", T0_MS + minute * MIN + i, Aggregate.for_message())
        return out

    for minute in range(5):
        assert burst(minute, 2) == []
    # Bound: max(3 × 2, 5) = 6 messages; fires on the 6th, once.
    alerts = burst(5, 10)
    assert states(alerts) == [("refund_surge", "refund", "firing")]
    assert (alerts[0].value, alerts[0].threshold) == (6, 6)
    assert alerts[0].message.startswith("Inbound volume of need refund is 6 in 2026-03-02 09:05")
    (resolved,) = burst(6, 1)
    assert resolved.state == "resolved"
    burst(7, 2)
    # Learned: minutes 0-4 (2 each) and 6 (1); the burst of minute 5 was frozen out.
    volume = feed.state("need", "refund")["kw"]["b"]["volume"]
    assert volume["n"] == 6 and volume["m"] == pytest.approx(2 + 0.2 * (1 - 2))


@pytest.mark.parametrize(
    ("rule", "value", "baseline", "breached"),
    [
        ({}, 4, Baseline(1.0, 0.0, 10), False),  # factor says 3, but min_value is 5
        ({}, 5, Baseline(1.0, 0.0, 10), True),
        ({"k_sigma": 4}, 8, Baseline(2.0, 4.0, 10), False),  # mean + 4 std = 10
        ({"k_sigma": 4}, 10, Baseline(2.0, 4.0, 10), True),
        ({}, 50, Baseline(2.0, 0.0, 2), None),  # not enough baseline windows
        ({"metric": "negative_share", "min_value": 0}, 0.0, Baseline(0.0, 0.0, 10), False),
    ],
)
def test_surge_bounds(
    rule: dict[str, Any], value: float, baseline: Baseline, breached: bool | None
) -> None:
    surge = SurgeRule.model_validate({**SURGE, **rule})
    current = Aggregate(volume=int(value), negative_n=int(value * 100), sentiment_n=100)
    check = surge.check(current, {surge.metric: baseline})
    assert (check.breached if check else None) == breached


# -- Episodes: cooldown, de-duplication, ids --------------------------------------------


def test_cooldown_keeps_a_resolved_rule_quiet_for_a_while_in_event_time() -> None:
    feed = Feed(engine_for({**LOW_RATINGS, "cooldown": "5m"}))
    (first,) = feed.ratings("a1", T0_MS, 0.0, 0.0)
    (resolved,) = feed.ratings("a1", T0_MS + MIN, 1.0, 1.0)  # resolved at 09:01
    assert resolved.alert_id == first.alert_id
    for minute in (2, 5):
        assert feed.ratings("a1", T0_MS + minute * MIN, 0.0, 0.0) == []
        feed.ratings("a1", T0_MS + minute * MIN + 30_000, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    (second,) = feed.ratings("a1", T0_MS + 6 * MIN, 0.0, 0.0)  # 09:06: cooldown over
    assert second.state == "firing" and second.alert_id.endswith(str(T0_MS + 6 * MIN))
    # Other agents are not affected by a1's cooldown.
    assert len(feed.ratings("a2", T0_MS + 2 * MIN, 0.0, 0.0)) == 1


def test_a_long_breach_fires_once_across_hopping_windows() -> None:
    feed = Feed(engine_for(LOW_RATINGS, windows={"size": "10m", "step": "1m", "grace": "2m"}))
    for second in range(0, 30 * 60, 10):
        feed.ratings("a1", T0_MS + second * 1000, 0.1)
    assert states(feed.alerts) == [("rated_low", "a1", "firing")]
    assert feed.engine.active(feed.state("agent", "a1")) == [("rated_low", "warning")]
    # The hopping window reported is the full 10 minutes ending just after the event.
    fired = feed.alerts[0]
    assert fired.window_end - fired.window_start == timedelta(minutes=10)
    assert fired.window_start < T0 < fired.window_end


def test_alert_ids_are_distinct_even_for_episodes_starting_in_one_bucket() -> None:
    feed = Feed(engine_for({**LOW_RATINGS, "clear_margin": 0, "min_samples": 1}))
    feed.ratings("a1", T0_MS, 0.0, 1.0, 0.0, 0.0)  # fire, resolve, fire in one bucket
    assert [a.state for a in feed.alerts] == ["firing", "resolved", "firing"]
    ids = [a.alert_id for a in feed.alerts]
    assert ids[0] == ids[1] == f"rated_low:agent:a1:{T0_MS}" and ids[2] == f"{ids[0][:-1]}1"


def test_update_does_not_change_the_state_it_was_given() -> None:
    engine = engine_for(LOW_RATINGS)
    state, _ = engine.update(None, "agent", "a1", T0_MS, Aggregate.for_rating(0.0), NOW)
    snapshot = copy.deepcopy(state)
    engine.update(state, "agent", "a1", T0_MS, Aggregate.for_rating(0.0), NOW)
    assert state == snapshot


def test_active_ignores_rules_no_longer_configured() -> None:
    feed = Feed(engine_for(LOW_RATINGS))
    feed.ratings("a1", T0_MS, 0.0, 0.0)
    state = feed.state("agent", "a1")
    assert feed.engine.active(state) == [("rated_low", "warning")]
    other = engine_for({**LOW_RATINGS, "name": "renamed"})
    assert other.active(state) == [] and other.active(None) == []
    new_state, _ = other.update(state, "agent", "a1", T0_MS, Aggregate.for_rating(0.9), NOW)
    assert set(new_state["ep"]) <= {"renamed"}


def test_a_very_long_key_still_gives_a_valid_alert_id() -> None:
    key = "k" * 256  # the longest Identifier
    assert alert_id("rated_low", "agent", "a1", 5) == "rated_low:agent:a1:5"
    long_id = alert_id("rated_low", "agent", key, T0_MS)
    assert len(long_id) <= 256 and long_id == alert_id("rated_low", "agent", key, T0_MS)
    feed = Feed(engine_for(LOW_RATINGS))
    (fired,) = feed.ratings(key, T0_MS, 0.0, 0.0)
    assert fired.alert_id == long_id and fired.key == key


# -- A synthetic incident, with the shipped rules ---------------------------------------

AGENTS = ["a1", "a2", "a3", "a4", "a5"]
INCIDENT = (T0 + timedelta(minutes=40), T0 + timedelta(minutes=60))


def incident_deltas(spec: WindowSpec, seed: int = 7) -> list[Delta]:
    """Two hours of ratings, one every 4 s among 5 agents; a3's collapse for 20 minutes.

    Events arrive up to 60 s late (within the 2 min grace), in batches of 30.
    """
    rng = random.Random(seed)
    events: list[FeedbackEvent] = []
    for i in range(2 * 3600 // 4):
        arrived = T0 + timedelta(seconds=4 * i)
        agent = rng.choice(AGENTS)
        bad = agent == "a3" and INCIDENT[0] <= arrived < INCIDENT[1]
        score = rng.choice([1, 1, 2, 1, 2]) if bad else rng.choice([4, 5, 5, 3, 4, 5])
        event = {
            "event_id": f"f{i}",
            "occurred_at": arrived - timedelta(seconds=rng.uniform(0, 60)),
            "customer_id": f"c{rng.randrange(1000)}",
            "agent_id": agent,
            "kind": "csat",
            "score": score,
            "scale": {"min": 1, "max": 5},
        }
        events.append(FeedbackEvent.model_validate(event))
    deltas: list[Delta] = []
    for start in range(0, len(events), 30):
        deltas += deltas_from_feedback(events[start : start + 30], spec)
    return deltas


def test_a_collapse_of_one_agents_ratings_fires_once_and_resolves_once() -> None:
    engine = AlertEngine(load_rules(SHIPPED))
    feed = Feed(engine)
    for delta in incident_deltas(engine.spec):
        feed.apply(delta)

    fired, resolved = feed.alerts  # exactly two alerts, nothing for a1, a2, a4, a5
    assert states(feed.alerts) == [
        ("agent_rated_satisfaction_low", "a3", "firing"),
        ("agent_rated_satisfaction_low", "a3", "resolved"),
    ]
    assert fired.alert_id == resolved.alert_id
    assert INCIDENT[0] < fired.window_end <= INCIDENT[1]
    assert fired.value < 0.4 and fired.samples >= 8
    assert resolved.window_end > INCIDENT[1] and resolved.value >= 0.5
    assert "agent a3" in fired.message and "below 0.40" in fired.message
    for agent in AGENTS:
        state = feed.state("agent", agent)
        assert KeyWindows.from_dict(state["kw"]).late_dropped == 0
        assert engine.active(state) == []


def test_a_replay_after_a_crash_gives_the_same_alerts_and_ids() -> None:
    engine = AlertEngine(load_rules(SHIPPED))
    deltas = incident_deltas(engine.spec, seed=8)
    reference = Feed(engine)
    for delta in deltas:
        reference.apply(delta)
    assert len(reference.alerts) == 2

    # Crash: state was checkpointed at delta 400, deltas up to 700 were processed (their
    # alerts may or may not have been sent), then everything from 400 is replayed.
    crashed = Feed(engine)
    for delta in deltas[:400]:
        crashed.apply(delta)
    checkpoint, sent = dict(crashed.states), len(crashed.alerts)
    for delta in deltas[400:700]:
        crashed.apply(delta)
    crashed.states = checkpoint
    crashed.alerts = crashed.alerts[:sent]
    for delta in deltas[400:]:
        crashed.apply(delta)
    assert crashed.alerts == reference.alerts


def test_resolved_episodes_are_forgotten_once_their_cooldown_is_over() -> None:
    feed = Feed(engine_for({**LOW_RATINGS, "cooldown": "2m"}))
    feed.ratings("a1", T0_MS, 0.0, 0.0)
    feed.ratings("a1", T0_MS + MIN, 1.0, 1.0)
    assert feed.state("agent", "a1")["ep"] == {"rated_low": {"s": T0_MS, "r": T0_MS + MIN}}
    feed.ratings("a1", T0_MS + 3 * MIN, 1.0)
    assert feed.state("agent", "a1")["ep"] == {}
    assert feed.engine.late_dropped(feed.state("agent", "a1")) == 0
    feed.ratings("a1", T0_MS, 1.0)  # its window closed long ago
    assert feed.engine.late_dropped(feed.state("agent", "a1")) == 1


def test_update_many_is_update_for_each_delta_in_turn() -> None:
    engine = AlertEngine(load_rules(SHIPPED))
    deltas = [d for d in incident_deltas(engine.spec, seed=9) if d.dimension == "agent"]
    one_by_one = Feed(engine)
    for delta in deltas:
        one_by_one.apply(delta)
    # Batched as the alerts agent does: a key's deltas of one batch in one call.
    states: dict[str, Any] = {}
    alerts: list[Alert] = []
    for start in range(0, len(deltas), 97):
        by_key: dict[str, list[Delta]] = {}
        for delta in deltas[start : start + 97]:
            by_key.setdefault(delta.key, []).append(delta)
        for key, group in by_key.items():
            states[key], changed = engine.update_many(
                states.get(key), "agent", key, [(d.bucket_ms, d.aggregate) for d in group], NOW
            )
            alerts += changed
    assert len(one_by_one.alerts) == 2  # the incident fires and resolves on the way
    assert sorted(alerts, key=lambda a: (a.window_end, a.state)) == sorted(
        one_by_one.alerts, key=lambda a: (a.window_end, a.state)
    )
    assert states == {key: one_by_one.state("agent", key) for key in states}


# -- Idle keys ---------------------------------------------------------------------------


def test_a_silent_key_is_resolved_as_no_data_with_its_episode_id() -> None:
    engine = engine_for(LOW_RATINGS, windows={"size": "1m"})
    feed = Feed(engine)
    (fired,) = feed.ratings("a1", T0_MS, 0.1, 0.2)
    state = feed.state("agent", "a1")
    idle = engine.idle_ms("agent")
    last = AlertEngine.last_event_ms(state)
    assert last is not None
    assert engine.expire(state, "agent", "a1", last + idle - 1, NOW) is None
    (resolved,) = engine.expire(state, "agent", "a1", last + idle, NOW) or []
    assert (resolved.alert_id, resolved.state, resolved.resolution) == (
        fired.alert_id,
        "resolved",
        "no_data",
    )
    assert resolved.value == fired.value and "no data since" in resolved.message
    # A key with nothing firing expires without any alert.
    feed.ratings("a2", T0_MS, 0.9, 0.9)
    assert engine.expire(feed.state("agent", "a2"), "agent", "a2", last + idle, NOW) == []


def test_normal_resolutions_say_recovered() -> None:
    feed = Feed(engine_for(LOW_RATINGS))
    feed.ratings("a1", T0_MS, 0.1, 0.2)
    resolved = feed.ratings("a1", T0_MS + 2 * MIN, 0.9, 0.9)
    assert [(a.state, a.resolution) for a in resolved] == [("resolved", "recovered")]


def test_idle_times_are_configured_per_dimension_and_outlast_the_windows() -> None:
    rules = parse_rules(
        {"windows": {"size": "10m", "grace": "2m"}, "state": {"idle": {"customer": "1h"}}}
    )
    engine = AlertEngine(rules)
    assert engine.idle_ms("customer") == 3_600_000
    assert engine.idle_ms("agent") == 7 * 86_400_000  # the default
    # A default shorter than the windows stretches to them.
    week_long = AlertEngine(parse_rules({"windows": {"size": "14d"}}))
    assert week_long.idle_ms("customer") == 14 * 86_400_000
    with pytest.raises(AlertRulesError, match=r"state\.idle\.customer: .*window size plus grace"):
        parse_rules(
            {"windows": {"size": "10m", "grace": "2m"}, "state": {"idle": {"customer": "11m"}}}
        )
