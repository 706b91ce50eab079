"""The alert engine: applies the configured rules (:mod:`streams.alert_config`) to one key.

Pure and deterministic: the engine's state is a JSON-able dict (the caller keeps it in
a table keyed like :func:`streams.deltas.delta_key`), time is event time, and the
processing clock only stamps ``fired_at``. A rule fires once per *episode*: it emits
``firing`` when its condition starts to hold, nothing while it keeps holding, and
``resolved`` (with the same ``alert_id``) when it clears.

>>> from streams.alert_config import parse_rules
>>> rules = parse_rules({
...     "windows": {"size": "10m"},
...     "rules": [{"kind": "threshold", "name": "agent_rated_low", "dimension": "agent",
...                "severity": "warning", "metric": "rated_satisfaction", "below": 0.4}],
... })
>>> engine = AlertEngine(rules)
>>> from datetime import UTC
>>> now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
>>> ten = 1_767_261_600_000                      # 2026-01-01 10:00 UTC, event time
>>> state, alerts = engine.update(None, "agent", "a17", ten, Aggregate.for_rating(0.2), now)
>>> [(a.state, a.alert_id) for a in alerts]
[('firing', 'agent_rated_low:agent:a17:1767261600000')]
>>> alerts[0].message
'Mean rated satisfaction of agent a17 is 0.20 over 1 rating in 2026-01-01 10:00–10:10 UTC, \
below 0.40'
>>> state, alerts = engine.update(state, "agent", "a17", ten, Aggregate.for_rating(0.3), now)
>>> alerts, engine.active(state)                 # still firing: said once only
([], [('agent_rated_low', 'warning')])
>>> state, alerts = engine.update(state, "agent", "a17", ten, Aggregate.for_rating(1.0), now)
>>> [(a.state, a.alert_id) for a in alerts]
[('resolved', 'agent_rated_low:agent:a17:1767261600000')]
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from schemas.events import Alert
from streams.aggregates import Aggregate, Dimension, KeyWindows, Metric, from_ms
from streams.alert_config import AlertRules, Check, Rule, Severity, Where
from streams.deltas import Delta

__all__ = ["AlertEngine", "alert_id"]


def alert_id(rule: str, dimension: Dimension, key: str, episode_start_ms: int) -> str:
    """The id shared by an episode's firing and resolved alerts (the same on a replay).

    >>> alert_id("agent_rated_low", "agent", "a17", 1767261600000)
    'agent_rated_low:agent:a17:1767261600000'
    """
    text = f"{rule}:{dimension}:{key}:{episode_start_ms}"
    if len(text) <= 256:  # Alert.alert_id is an Identifier (at most 256 characters)
        return text
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{rule}:{dimension}:sha256-{digest}:{episode_start_ms}"


def _still_needed(episode: Mapping[str, Any], rule: Rule, watermark: int) -> bool:
    """Whether an episode must stay in the state (so that per-key state stays small).

    A resolved episode matters during its cooldown, and while the watermark has not
    passed its start (a new episode must get a later start, hence a new alert id).
    """
    if episode.get("f"):
        return True
    resolved, start = episode.get("r", 0), episode.get("s", 0)
    return bool(watermark < resolved + rule.cooldown * 1000 or watermark <= start)


class AlertEngine:
    """Applies the rules to one (dimension, key) at a time.

    The state (per key) is ``{"kw": KeyWindows.to_dict(), "ep": {rule: episode}}``; an
    episode is ``{"f": true, "s": start_ms, "v": value_at_fire}`` while firing, and
    ``{"s": start_ms, "r": resolved_ms}`` after it resolved, until its cooldown is over.
    Episodes of rules no longer configured for the dimension are forgotten.
    """

    def __init__(self, rules: AlertRules) -> None:
        self.rules = rules
        self.spec = rules.windows.spec()
        self._rules: dict[Dimension, list[Rule]] = {}
        for rule in rules.rules:
            self._rules.setdefault(rule.dimension, []).append(rule)
        self._severity = {rule.name: rule.severity for rule in rules.rules}
        # The metrics whose baselines each dimension's rules read (the rest are not learned).
        self._learned: dict[Dimension, frozenset[Metric]] = {
            dimension: frozenset(m for r in dim_rules if (m := r.baseline_metric) is not None)
            for dimension, dim_rules in self._rules.items()
        }

    @property
    def dimensions(self) -> frozenset[Dimension]:
        """The dimensions some rule watches (deltas of other dimensions can be skipped)."""
        return frozenset(self._rules)

    def apply(
        self, state: Mapping[str, Any] | None, delta: Delta, now: datetime
    ) -> tuple[dict[str, Any], list[Alert]]:
        """:meth:`update` with a decoded :class:`Delta`."""
        return self.update(state, delta.dimension, delta.key, delta.bucket_ms, delta.aggregate, now)

    def update(
        self,
        state: Mapping[str, Any] | None,
        dimension: Dimension,
        key: str,
        bucket_ms: int,
        delta: Aggregate,
        now: datetime,
    ) -> tuple[dict[str, Any], list[Alert]]:
        """Add a delta to the key's state and return the new state and any alerts.

        ``state`` is not modified. Rules only speak when they have enough samples
        (and baseline windows); an episode's alerts are de-duplicated across windows.
        """
        return self.update_many(state, dimension, key, [(bucket_ms, delta)], now)

    def update_many(
        self,
        state: Mapping[str, Any] | None,
        dimension: Dimension,
        key: str,
        deltas: Sequence[tuple[int, Aggregate]],
        now: datetime,
    ) -> tuple[dict[str, Any], list[Alert]]:
        """:meth:`update` with each ``(bucket_ms, delta)`` in turn, the state decoded once.

        The same state and alerts as calling :meth:`update` for each delta in order
        (a replay brings many buckets of a key in one batch).
        """
        state = state or {}
        windows = KeyWindows.from_dict(state.get("kw", {}), self.spec)
        episodes: dict[str, dict[str, Any]] = {
            name: dict(episode) for name, episode in state.get("ep", {}).items()
        }
        rules = self._rules.get(dimension, [])
        alerts: list[Alert] = []
        for bucket_ms, delta in deltas:
            episodes = self._step(
                windows, episodes, rules, dimension, key, bucket_ms, delta, now, alerts
            )
        return {"kw": windows.to_dict(), "ep": dict(sorted(episodes.items()))}, alerts

    def _step(
        self,
        windows: KeyWindows,
        episodes: dict[str, dict[str, Any]],
        rules: list[Rule],
        dimension: Dimension,
        key: str,
        bucket_ms: int,
        delta: Aggregate,
        now: datetime,
        alerts: list[Alert],
    ) -> dict[str, dict[str, Any]]:
        """One delta: update the windows, check the rules (alerts appended); the episodes kept."""
        # A firing drop/surge rule freezes its baseline: an incident must not become normal.
        learn = self._learned.get(dimension, frozenset())
        frozen = (
            {
                m
                for r in rules
                if (m := r.baseline_metric) is not None and episodes.get(r.name, {}).get("f")
            }
            if episodes
            else ()
        )
        windows.add(bucket_ms, delta, self.spec, frozen=frozen, learn=learn)
        start, end, current = windows.current(self.spec)
        watermark = windows.watermark_ms if windows.watermark_ms is not None else bucket_ms
        where = Where(dimension, key, start, end)

        for rule in rules:
            check = rule.check(current, windows.baselines)
            if check is None:
                continue  # not enough data: neither fire nor clear
            episode = episodes.get(rule.name, {})
            if not episode.get("f") and check.breached:
                resolved = episode.get("r")
                if resolved is not None and watermark < resolved + rule.cooldown * 1000:
                    continue
                # Distinct ids even if an episode starts in the bucket the last one did.
                previous = episode.get("s")
                episode_start = watermark if previous is None else max(watermark, previous + 1)
                episodes[rule.name] = {"f": True, "s": episode_start, "v": check.value}
                alerts.append(self._alert(rule, where, check, episode_start, now, resolved=False))
            elif episode.get("f") and check.recovered:
                episodes[rule.name] = {"s": episode["s"], "r": watermark}
                alerts.append(self._alert(rule, where, check, episode["s"], now, resolved=True))

        return {
            rule.name: episodes[rule.name]
            for rule in rules
            if rule.name in episodes and _still_needed(episodes[rule.name], rule, watermark)
        }

    def idle_ms(self, dimension: Dimension) -> int:
        """How long a key of ``dimension`` may stay silent before its state is dropped.

        Never less than a window and its grace, so no open window is dropped.
        """
        least = self.spec.size_ms + self.spec.grace_ms
        return max(int(self.rules.state.idle_s(dimension) * 1000), least)

    @staticmethod
    def last_event_ms(state: Mapping[str, Any] | None) -> int | None:
        """The newest event time (bucket) in a key's state, or None for an empty state."""
        watermark = (state or {}).get("kw", {}).get("wm")
        return int(watermark) if watermark is not None else None

    def expire(
        self,
        state: Mapping[str, Any] | None,
        dimension: Dimension,
        key: str,
        watermark_ms: int,
        now: datetime,
    ) -> list[Alert] | None:
        """Whether a key went silent: None if not, else the ``no_data`` resolutions to send.

        A key is idle once ``watermark_ms`` (the newest event time of its partition) is
        its idle time past its own last event; the caller then drops its state. Each
        episode still firing is resolved, with the value it fired with.

        >>> from streams.alert_config import load_rules
        >>> engine = AlertEngine(load_rules("config/alerts.yml"))
        >>> firing = {"f": True, "s": 0, "v": 0.1}
        >>> state = {"kw": {"k": {}, "wm": 0}, "ep": {"customer_at_risk": firing}}
        >>> engine.expire(state, "customer", "c1", engine.idle_ms("customer") - 1, now=from_ms(0))
        >>> [(a.state, a.resolution, a.value) for a in engine.expire(
        ...     state, "customer", "c1", engine.idle_ms("customer"), now=from_ms(0))]
        [('resolved', 'no_data', 0.1)]
        """
        last = self.last_event_ms(state)
        if last is not None and watermark_ms < last + self.idle_ms(dimension):
            return None
        severity = self._severity
        by_name = {rule.name: rule for rule in self._rules.get(dimension, [])}
        start = self.spec.current(last if last is not None else watermark_ms)
        silent_since = from_ms(last if last is not None else watermark_ms)
        alerts = []
        for name, episode in sorted((state or {}).get("ep", {}).items()):
            if not episode.get("f") or name not in by_name:
                continue
            alerts.append(
                Alert(
                    alert_id=alert_id(name, dimension, key, int(episode.get("s", 0))),
                    rule=name,
                    severity=severity[name],
                    state="resolved",
                    dimension=dimension,
                    key=key,
                    value=float(episode.get("v", 0.0)),
                    samples=0,
                    window_start=from_ms(start),
                    window_end=from_ms(self.spec.end(start)),
                    fired_at=now,
                    message=(
                        f"{name} for {dimension} {key}: resolved, no data since "
                        f"{silent_since:%Y-%m-%d %H:%M} UTC "
                        f"({self.rules.state.idle_s(dimension):g} s without events)"
                    ),
                    resolution="no_data",
                )
            )
        return alerts

    @staticmethod
    def late_dropped(state: Mapping[str, Any] | None) -> int:
        """How many deltas of this key came too late for any open window."""
        return int((state or {}).get("kw", {}).get("late", 0))

    def active(self, state: Mapping[str, Any] | None) -> list[tuple[str, Severity]]:
        """The (rule, severity) of each episode firing in a key's state."""
        episodes: Mapping[str, Mapping[str, Any]] = (state or {}).get("ep", {})
        return [
            (name, self._severity[name])
            for name, episode in sorted(episodes.items())
            if episode.get("f") and name in self._severity
        ]

    def _alert(
        self,
        rule: Rule,
        where: Where,
        check: Check,
        episode_start_ms: int,
        now: datetime,
        resolved: bool,
    ) -> Alert:
        return Alert(
            alert_id=alert_id(rule.name, where.dimension, where.key, episode_start_ms),
            rule=rule.name,
            severity=rule.severity,
            state="resolved" if resolved else "firing",
            dimension=where.dimension,
            key=where.key,
            value=check.value,
            threshold=check.clear_bound if resolved else check.bound,
            samples=check.samples,
            window_start=from_ms(where.start_ms),
            window_end=from_ms(where.end_ms),
            fired_at=now,
            message=rule.message(where, check, resolved),
            resolution="recovered" if resolved else None,
        )
