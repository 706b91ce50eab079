"""The alert rules file: its rule types, their validation and loading ``config/alerts.yml``.

Each rule is a validated pydantic model that knows its own condition
(:meth:`check` on a window's aggregate and baselines) and how to word its alert;
:mod:`streams.alert_engine` applies them to a key's windows over time. Loading
fails with one :class:`AlertRulesError` naming the file and every failing field.

>>> rules = parse_rules({
...     "windows": {"size": "10m"},
...     "rules": [{"kind": "threshold", "name": "agent_rated_low", "dimension": "agent",
...                "severity": "warning", "metric": "rated_satisfaction", "below": 0.4}],
... })
>>> [(rule.name, rule.dimension, rule.severity) for rule in rules.rules]
[('agent_rated_low', 'agent', 'warning')]
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from crmstream.errors import CrmstreamError
from streams.aggregates import Aggregate, Baseline, Dimension, Metric, WindowSpec, from_ms

__all__ = [
    "AlertRules",
    "AlertRulesError",
    "AtRiskRule",
    "Check",
    "DropRule",
    "Rule",
    "Severity",
    "SurgeRule",
    "ThresholdRule",
    "Where",
    "WindowsConfig",
    "load_rules",
    "parse_duration",
    "parse_rules",
]

Severity = Literal["info", "warning", "critical"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> float:
    """Seconds from ``"90s"``, ``"10m"``, ``"2h"``, ``"1d"`` or a number of seconds.

    >>> parse_duration("10m"), parse_duration("1.5h"), parse_duration(90)
    (600.0, 5400.0, 90.0)
    >>> parse_duration("ten minutes")
    Traceback (most recent call last):
    ...
    ValueError: expected a duration such as '90s', '10m', '2h', '1d' or a number of seconds, \
got 'ten minutes'
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match[1]) * _UNIT_S[match[2]]
    else:
        raise ValueError(
            "expected a duration such as '90s', '10m', '2h', '1d' or a number of seconds, "
            f"got {value!r}"
        )
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be a finite number of seconds >= 0, got {value!r}")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
# A bound: a plain number, or a duration for response_time_s (e.g. ``above: 4h``).
Bound = Annotated[float, BeforeValidator(parse_duration)]
RuleName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]


class _FieldError(ValueError):
    """A validation error about a field below the validated model (for precise messages)."""

    def __init__(self, path: Sequence[str | int], message: str) -> None:
        super().__init__(message)
        self.path = tuple(path)


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowsConfig(_Config):
    """Window geometry: tumbling when ``step`` equals ``size`` (the default), else hopping."""

    size: Duration
    step: Duration | None = None
    grace: Duration = 0.0
    baseline_alpha: float = Field(0.2, gt=0, le=1)

    @model_validator(mode="after")
    def _valid_geometry(self) -> Self:
        try:
            self.spec()
        except ValueError as exc:
            raise _FieldError(["step" if self.step is not None else "size"], str(exc)) from exc
        return self

    def spec(self) -> WindowSpec:
        step = self.step if self.step is not None else self.size
        return WindowSpec(self.size, step, self.grace, self.baseline_alpha)


@dataclass(frozen=True)
class Check:
    """What a rule says about the current window.

    ``breached``: the firing condition holds; ``recovered``: the clearing condition
    holds (both False inside a hysteresis band). ``bound`` is the firing bound,
    ``clear_bound`` the clearing one; ``baseline`` the one the bound came from, if any.
    """

    value: float
    samples: int
    breached: bool
    recovered: bool
    bound: float
    clear_bound: float
    baseline: Baseline | None = None
    urgency: float | None = None  # at_risk rules: the window's highest urgency


@dataclass(frozen=True)
class Where:
    """What and when an alert is about, for its message."""

    dimension: Dimension
    key: str
    start_ms: int
    end_ms: int

    @property
    def subject(self) -> str:
        return f"{self.dimension} {self.key}"

    @property
    def window(self) -> str:
        start, end = from_ms(self.start_ms), from_ms(self.end_ms)
        same_day = start.date() == end.date()
        return f"{start:%Y-%m-%d %H:%M}–{end:{'%H:%M' if same_day else '%Y-%m-%d %H:%M'}} UTC"


_LABELS: dict[Metric, tuple[str, str]] = {
    "satisfaction": ("Mean predicted satisfaction", "message"),
    "rated_satisfaction": ("Mean rated satisfaction", "rating"),
    "volume": ("Inbound volume", "message"),
    "negative_share": ("Share of negative messages", "message"),
    "negative_volume": ("Negative messages", "message"),
    "response_time_s": ("Mean first-response time", "response"),
    "urgency": ("Highest urgency", "message"),
}


def _fmt(metric: Metric, x: float) -> str:
    """A metric value for people: counts whole, shares in %, times in s/min/h."""
    if metric in ("volume", "negative_volume"):
        return f"{x:.0f}"
    if metric == "negative_share":
        return f"{x:.0%}"
    if metric == "response_time_s":
        if x < 90:
            return f"{x:.0f}s"
        return f"{x / 60:.0f}min" if x < 5400 else f"{x / 3600:.1f}h"
    return f"{x:.2f}"


def _statement(metric: Metric, where: Where, check: Check) -> str:
    """E.g. 'Mean rated satisfaction of agent a17 is 0.21 over 42 ratings in ...'."""
    label, unit = _LABELS[metric]
    text = f"{label} of {where.subject} is {_fmt(metric, check.value)}"
    if metric not in ("volume", "negative_volume"):  # a count is its own sample size
        text += f" over {check.samples} {unit}{'' if check.samples == 1 else 's'}"
    return f"{text} in {where.window}"


class _Rule(_Config):
    name: RuleName
    dimension: Dimension
    severity: Severity
    cooldown: Duration = 0.0
    min_samples: int = Field(1, ge=1)
    description: str | None = None

    @property
    def baseline_metric(self) -> Metric | None:
        """The metric whose baseline this rule compares with (frozen while it fires)."""
        return None

    def check(self, current: Aggregate, baselines: Mapping[Metric, Baseline]) -> Check | None:
        """Evaluate the current window; None when there is not enough data to say."""
        raise NotImplementedError

    def message(self, where: Where, check: Check, resolved: bool) -> str:
        raise NotImplementedError

    def _reading(self, metric: Metric, current: Aggregate) -> tuple[float, int] | None:
        value, samples = current.metric(metric), current.samples(metric)
        if value is None or samples < self.min_samples:
            return None
        return value, samples


class _BaselineRule(_Rule):
    """A rule that compares a metric's window with that metric's own baseline.

    It says nothing until the baseline has ``min_baseline_windows`` windows; then the
    subclass's :meth:`_bound` (from the baseline) and :meth:`_breached` decide, and the
    alert clears as soon as the condition no longer holds.
    """

    metric: Metric
    min_baseline_windows: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _metric_has_data(self) -> Self:
        _check_metric_dimension(self.metric, self.dimension)
        return self

    @property
    def baseline_metric(self) -> Metric | None:
        return self.metric

    def check(self, current: Aggregate, baselines: Mapping[Metric, Baseline]) -> Check | None:
        reading = self._reading(self.metric, current)
        baseline = baselines.get(self.metric)
        if reading is None or baseline is None or baseline.n < self.min_baseline_windows:
            return None
        value, samples = reading
        bound = self._bound(baseline)
        breached = self._breached(value, bound)
        return Check(value, samples, breached, not breached, bound, bound, baseline)

    def _bound(self, baseline: Baseline) -> float:
        """The firing (and clearing) bound this baseline gives."""
        raise NotImplementedError

    def _breached(self, value: float, bound: float) -> bool:
        """Whether the window's value is past the bound."""
        raise NotImplementedError


class ThresholdRule(_Rule):
    """Fires when the metric is below ``below`` (or above ``above``); with hysteresis."""

    kind: Literal["threshold"]
    metric: Metric
    below: Bound | None = None
    above: Bound | None = None
    clear_margin: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _one_bound(self) -> Self:
        if (self.below is None) == (self.above is None):
            field = "above" if self.below is not None else "below"
            raise _FieldError([field], "give exactly one of 'below' or 'above'")
        _check_metric_dimension(self.metric, self.dimension)
        return self

    def check(self, current: Aggregate, baselines: Mapping[Metric, Baseline]) -> Check | None:
        reading = self._reading(self.metric, current)
        if reading is None:
            return None
        value, samples = reading
        if self.below is not None:
            clear = self.below + self.clear_margin
            return Check(value, samples, value < self.below, value >= clear, self.below, clear)
        assert self.above is not None
        clear = self.above - self.clear_margin
        return Check(value, samples, value > self.above, value <= clear, self.above, clear)

    def message(self, where: Where, check: Check, resolved: bool) -> str:
        side = "below" if self.below is not None else "above"
        if resolved:
            back = "at or above" if side == "below" else "at or below"
            bound = _fmt(self.metric, check.clear_bound)
            return f"Resolved: {_statement(self.metric, where, check)}, back {back} {bound}"
        return f"{_statement(self.metric, where, check)}, {side} {_fmt(self.metric, check.bound)}"


class DropRule(_BaselineRule):
    """Fires when the metric falls ``k_sigma`` standard deviations below its baseline."""

    kind: Literal["drop"]
    k_sigma: float = Field(gt=0)
    min_std: float = Field(0.01, ge=0)

    def _bound(self, baseline: Baseline) -> float:
        # The std floor keeps a very steady history from alerting on noise.
        return baseline.mean - self.k_sigma * max(baseline.std, self.min_std)

    def _breached(self, value: float, bound: float) -> bool:
        return value < bound

    def message(self, where: Where, check: Check, resolved: bool) -> str:
        statement, bound = _statement(self.metric, where, check), _fmt(self.metric, check.bound)
        if resolved:
            return f"Resolved: {statement}, back at or above {bound}"
        assert check.baseline is not None
        usual = f"{_fmt(self.metric, check.baseline.mean)} ± {check.baseline.std:.2f}"
        return f"{statement}, below {bound} (usually {usual})"


class AtRiskRule(_Rule):
    """Fires when a window's mean predicted satisfaction is very low and urgency high."""

    kind: Literal["at_risk"]
    dimension: Dimension = "customer"
    max_satisfaction: float = Field(ge=0, le=1)
    min_urgency: float = Field(ge=0, le=1)

    def check(self, current: Aggregate, baselines: Mapping[Metric, Baseline]) -> Check | None:
        reading = self._reading("satisfaction", current)
        urgency = current.metric("urgency")
        if reading is None or urgency is None:
            return None
        value, samples = reading
        breached = value <= self.max_satisfaction and urgency >= self.min_urgency
        bound = self.max_satisfaction
        return Check(value, samples, breached, not breached, bound, bound, urgency=urgency)

    def message(self, where: Where, check: Check, resolved: bool) -> str:
        sat, urgency = _fmt("satisfaction", check.value), _fmt("urgency", check.urgency or 0.0)
        over = f"over {check.samples} message{'' if check.samples == 1 else 's'} in {where.window}"
        if resolved:
            return (
                f"Resolved: {where.subject} is no longer at risk: mean predicted satisfaction "
                f"{sat}, highest urgency {urgency} {over}"
            )
        return (
            f"{where.subject.capitalize()} is at risk: mean predicted satisfaction {sat} "
            f"(at most {self.max_satisfaction:.2f}) and urgency {urgency} "
            f"(at least {self.min_urgency:.2f}) {over}"
        )


class SurgeRule(_BaselineRule):
    """Fires when volume, negative volume or negative share jumps above its baseline.

    The bound is the largest of ``factor`` × the baseline mean, mean + ``k_sigma`` × std
    (when given) and ``min_value``.
    """

    kind: Literal["surge"]
    metric: Literal["volume", "negative_volume", "negative_share"]
    factor: float = Field(gt=0)
    k_sigma: float | None = Field(None, gt=0)
    min_value: float = Field(0.0, ge=0)

    def _bound(self, baseline: Baseline) -> float:
        bounds = [baseline.mean * self.factor, self.min_value]
        if self.k_sigma is not None:
            bounds.append(baseline.mean + self.k_sigma * baseline.std)
        return max(bounds)

    def _breached(self, value: float, bound: float) -> bool:
        return value >= bound and value > 0  # nothing at all is never a surge

    def message(self, where: Where, check: Check, resolved: bool) -> str:
        statement, bound = _statement(self.metric, where, check), _fmt(self.metric, check.bound)
        if resolved:
            return f"Resolved: {statement}, back below {bound}"
        assert check.baseline is not None
        usual = _fmt(self.metric, check.baseline.mean)
        return f"{statement}, at least {bound} (usually {usual})"


def _check_metric_dimension(metric: Metric, dimension: Dimension) -> None:
    if metric == "rated_satisfaction" and dimension == "channel":
        raise _FieldError(["metric"], "ratings carry no channel: use another dimension")


Rule = Annotated[ThresholdRule | DropRule | AtRiskRule | SurgeRule, Field(discriminator="kind")]
RULE_KINDS = ("threshold", "drop", "at_risk", "surge")


#: How long a key may stay silent (event time) before its state is dropped, by default.
DEFAULT_IDLE: dict[Dimension, float] = {
    "customer": 2 * 86400.0,
    "agent": 7 * 86400.0,
    "channel": 7 * 86400.0,
    "need": 7 * 86400.0,
}


class StateConfig(_Config):
    """How long the state of keys that went silent is kept (in event time).

    ``idle``: per dimension, how long after its last event a key's windows, baselines
    and episodes are dropped (a rule firing for it is resolved as ``no_data``).
    ``unanswered_turn_max_age``: an inbound message nobody answered within this long
    no longer waits for its reply (it is dropped and counted).
    """

    idle: dict[Dimension, Duration] = Field(default_factory=dict)  # missing: DEFAULT_IDLE
    unanswered_turn_max_age: Duration = Field(86400.0, gt=0)

    def idle_s(self, dimension: Dimension) -> float:
        return self.idle.get(dimension, DEFAULT_IDLE[dimension])


class AlertRules(_Config):
    """The whole alerts config: window geometry, how long idle state is kept, the rules."""

    windows: WindowsConfig
    state: StateConfig = Field(default_factory=StateConfig)
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _idle_outlasts_windows(self) -> Self:
        # A key dropped while one of its windows is still open would lose that window.
        spec = self.windows.spec()
        least = (spec.size_ms + spec.grace_ms) / 1000
        for dimension in self.state.idle:  # the defaults stretch to the windows (idle_ms)
            if self.state.idle_s(dimension) < least:
                raise _FieldError(
                    ["state", "idle", dimension],
                    f"must be at least the window size plus grace ({least:g} s)",
                )
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        first: dict[str, int] = {}
        for i, rule in enumerate(self.rules):
            if rule.name in first:
                raise _FieldError(
                    ["rules", i, "name"],
                    f"duplicate rule name {rule.name!r} (first used by rules.{first[rule.name]})",
                )
            first[rule.name] = i
        return self


class AlertRulesError(CrmstreamError, ValueError):
    """The alerts config is invalid; the message names the file and each failing field."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(f"{source}: {problem}" for problem in self.problems))


def _problem(error: ErrorDetails) -> str:
    """One pydantic error as ``rules.2.below: message``."""
    loc = list(error["loc"])
    # Discriminated unions put the tag in the location: rules.2.threshold.below.
    if len(loc) > 2 and loc[0] == "rules" and loc[2] in RULE_KINDS:
        del loc[2]
    message = error["msg"]
    kinds = ", ".join(RULE_KINDS)
    if error["type"] == "union_tag_invalid":
        loc.append("kind")
        tag = error.get("ctx", {}).get("tag")
        message = f"unknown rule kind {tag!r}: expected one of {kinds}"
    elif error["type"] == "union_tag_not_found":
        loc.append("kind")
        message = f"missing: every rule needs a kind, one of {kinds}"
    elif error["type"] == "string_pattern_mismatch" and loc[-1:] == ["name"]:
        message = f"{error['input']!r} is not an identifier (letters, digits and _)"
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, _FieldError):
        loc.extend(cause.path)
    if isinstance(cause, ValueError):
        message = str(cause)
    return f"{'.'.join(map(str, loc)) or '(top level)'}: {message}"


def parse_rules(data: object, source: str = "<string>") -> AlertRules:
    """Validate a loaded config; raise :class:`AlertRulesError` naming each failing field.

    >>> parse_rules({"windows": {"size": "10 minutes"}}, source="alerts.yml")
    Traceback (most recent call last):
    ...
    streams.alert_config.AlertRulesError: alerts.yml: windows.size: expected a duration such as \
'90s', '10m', '2h', '1d' or a number of seconds, got '10 minutes'
    """
    if not isinstance(data, Mapping):
        raise AlertRulesError(source, [f"expected a mapping, got {type(data).__name__}"])
    try:
        return AlertRules.model_validate(data)
    except ValidationError as exc:
        raise AlertRulesError(source, [_problem(e) for e in exc.errors()]) from None


def load_rules(path: str | Path) -> AlertRules:
    """Read and validate a YAML alerts config (``config/alerts.yml``)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise AlertRulesError(str(path), [f"cannot read: {exc.strerror or exc}"]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AlertRulesError(str(path), [f"not valid YAML: {exc}"]) from exc
    return parse_rules(data, source=str(path))
