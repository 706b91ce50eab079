"""How urgent a communication is: a score in [0, 1] and a level P1 (most urgent) to P4.

The score starts as a transparent rule-based **prior**, a weighted sum of five factors in
[0, 1]:

- ``wording`` (0.45): urgent words in English or Chinese ("urgent", "asap",
  "immediately", "紧急", "马上", "立刻"...): 0.6 for one, +0.2 for each more;
- ``wait`` (0.20): how long the customer has waited, against 3x the channel's usual
  reply time (chat 2 min, email 4 h...);
- ``need`` (0.15): the need's weight (complaint 1.0 ... product question 0.0; 0.4 when
  unknown or new);
- ``dissatisfaction`` (0.10): 1 - predicted satisfaction (0.5 when not given);
- ``tier`` (0.10): customer tier, standard 0, gold 0.5, platinum 1;

plus a base of 0.1; levels are cut at 0.75 (P1), 0.5 (P2) and 0.25 (P3).

When priority labels exist (P1..P4), an online linear regression (River
:class:`~river.linear_model.LinearRegression`) learns them over the same factors plus the
need, tier and channel as indicator features (targets: the middle of each level's band).
After ``min_labels`` labels it is blended in, its share growing linearly to ``max_share``
over ``ramp`` more labels. :meth:`UrgencyModel.explain_one` gives each factor's
contribution to the score (they add up to it before clipping).

The need and the satisfaction are the communication's context (``Example.need``,
``Example.satisfaction``): the bundle fills them in with what the need and satisfaction
models say when it scores, and with what the worker served (or a person's label) when
it learns, so that the regression learns from the features it is later applied to.

>>> from dataclasses import replace
>>> from models.features import Example
>>> model = UrgencyModel()
>>> model.predict_one(Example("What are your opening hours?", channel="chat")).level
'P4'
>>> calm = Example("my invoice is wrong", channel="email", wait_seconds=600)
>>> hurry = Example("URGENT: my invoice is wrong, fix it asap", channel="email",
...                 wait_seconds=86400, customer_tier="platinum")
>>> model.predict_one(calm).level, model.predict_one(replace(hurry, need="complaint")).level
('P4', 'P1')
>>> round(model.explain_one(hurry)["wording"], 2)
0.36
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from river import linear_model, optim

from models.features import Example
from models.protocol import BaseOnlineModel

__all__ = [
    "LEVELS",
    "URGENT_PHRASES_EN",
    "URGENT_PHRASES_ZH",
    "URGENT_WORDS_EN",
    "Level",
    "UrgencyModel",
    "UrgencyPrediction",
    "parse_priority",
]

Level = Literal["P1", "P2", "P3", "P4"]
LEVELS: tuple[Level, ...] = ("P1", "P2", "P3", "P4")

#: Lower bounds of P1, P2 and P3 on the score; below the last is P4.
CUTS: tuple[float, float, float] = (0.75, 0.5, 0.25)

#: The score a labelled level is taught as (the middle of its band).
LEVEL_TARGETS: dict[str, float] = {"P1": 0.875, "P2": 0.625, "P3": 0.375, "P4": 0.125}

URGENT_WORDS_EN: frozenset[str] = frozenset(
    {"urgent", "urgently", "asap", "immediately", "emergency", "critical", "hurry", "promptly"}
)
URGENT_PHRASES_EN: tuple[str, ...] = (
    "as soon as possible",
    "right away",
    "right now",
    "straight away",
    "without delay",
    "time sensitive",
    "time-sensitive",
    "can't wait",
    "cannot wait",
)
URGENT_PHRASES_ZH: tuple[str, ...] = (
    "紧急",
    "加急",
    "着急",
    "急需",
    "急用",
    "马上",
    "立刻",
    "立即",
    "尽快",
    "赶紧",
    "赶快",
    "火速",
    "十万火急",
    "刻不容缓",
)

DEFAULT_NEED_WEIGHTS: dict[str, float] = {
    "complaint": 1.0,
    "account_access": 0.85,
    "refund": 0.65,
    "technical_issue": 0.5,
    "billing": 0.4,
    "delivery": 0.4,
    "cancellation": 0.35,
    "product_question": 0.0,
}
DEFAULT_TIER_WEIGHTS: dict[str, float] = {"standard": 0.0, "gold": 0.5, "platinum": 1.0}
#: Usual time to a reply per channel, in seconds; a wait of 3x this is maximal.
DEFAULT_EXPECTED_WAIT: dict[str, float] = {
    "phone": 60,
    "chat": 120,
    "sms": 900,
    "social": 1800,
    "email": 4 * 3600,
    "other": 3600,
}
PRIOR_WEIGHTS: dict[str, float] = {
    "wording": 0.45,
    "wait": 0.2,
    "need": 0.15,
    "dissatisfaction": 0.1,
    "tier": 0.1,
}
PRIOR_BASE = 0.1

_SPACES = re.compile(r"\s+")


def parse_priority(value: Any) -> float:
    """The target score of a priority label: ``"P1"``..``"P4"``, 1..4, or a score in [0, 1].

    >>> parse_priority("p2"), parse_priority(4), parse_priority(0.9)
    (0.625, 0.125, 0.9)
    """
    if isinstance(value, str):
        text = value.strip().upper()
        if text in LEVEL_TARGETS:
            return LEVEL_TARGETS[text]
        if text.isdigit():
            value = int(text)
        else:
            raise ValueError(f"unknown priority {value!r}: expected P1..P4")
    if isinstance(value, bool):
        raise ValueError("a priority is not a bool")
    if isinstance(value, int) and 1 <= value <= 4:
        return LEVEL_TARGETS[f"P{value}"]
    if isinstance(value, float) and 0.0 <= value <= 1.0:
        return value
    raise ValueError(f"unknown priority {value!r}: expected P1..P4, 1..4 or a score in [0, 1]")


def level_of(score: float) -> Level:
    """The level of a score.

    >>> level_of(0.8), level_of(0.5), level_of(0.3), level_of(0.0)
    ('P1', 'P2', 'P3', 'P4')
    """
    for level, cut in zip(LEVELS, CUTS, strict=False):
        if score >= cut:
            return level
    return "P4"


@dataclass(frozen=True)
class UrgencyPrediction:
    """Urgency score in [0, 1], its level and each factor's contribution to the score."""

    score: float
    level: Level
    factors: dict[str, float] = field(default_factory=dict)


class UrgencyModel(BaseOnlineModel[Example, UrgencyPrediction]):
    """Rule-based urgency prior, refined online by priority labels when there are some.

    ``predict_one``, ``learn_one`` and ``explain_one`` take the predicted ``need`` (label)
    and ``satisfaction`` (score in [0, 1]) as optional keyword arguments.
    """

    name = "urgency"

    def __init__(
        self,
        *,
        need_weights: dict[str, float] | None = None,
        unknown_need: float = 0.4,
        tier_weights: dict[str, float] | None = None,
        expected_wait: dict[str, float] | None = None,
        default_expected_wait: float = 3600.0,
        min_labels: int = 30,
        ramp: int = 300,
        max_share: float = 0.8,
        learning_rate: float = 0.05,
    ) -> None:
        super().__init__()
        self.need_weights = dict(DEFAULT_NEED_WEIGHTS if need_weights is None else need_weights)
        self.unknown_need = unknown_need
        self.tier_weights = dict(DEFAULT_TIER_WEIGHTS if tier_weights is None else tier_weights)
        self.expected_wait = dict(DEFAULT_EXPECTED_WAIT if expected_wait is None else expected_wait)
        self.default_expected_wait = default_expected_wait
        self.min_labels = min_labels
        self.ramp = ramp
        self.max_share = max_share
        self.learning_rate = learning_rate
        self.regressor = linear_model.LinearRegression(
            optimizer=optim.SGD(learning_rate), intercept_lr=learning_rate
        )

    # -- factors ---------------------------------------------------------------------------

    @staticmethod
    def urgent_hits(x: Example) -> list[str]:
        """The urgent words and phrases found in the text."""
        hits = [t for t in x.tokens if t in URGENT_WORDS_EN]
        text = _SPACES.sub(" ", x.text.lower())
        hits += [p for p in URGENT_PHRASES_EN if p in text]
        covered: list[str] = []
        for phrase in sorted(URGENT_PHRASES_ZH, key=len, reverse=True):
            if phrase in text and not any(phrase in longer for longer in covered):
                covered.append(phrase)
        return hits + covered

    def factors(self, x: Example) -> dict[str, float]:
        """The five prior factors of ``x`` (its need and satisfaction from its context),
        each in [0, 1]."""
        need, satisfaction = x.need, x.satisfaction
        hits = len(self.urgent_hits(x))
        wording = min(1.0, 0.6 + 0.2 * (hits - 1)) if hits else 0.0
        expected = self.expected_wait.get(x.channel or "", self.default_expected_wait)
        wait = min(1.0, max(0.0, (x.wait_seconds or 0.0) / (3.0 * expected)))
        need_value = self.need_weights.get(need, self.unknown_need) if need else self.unknown_need
        dissatisfaction = 0.5 if satisfaction is None else 1.0 - min(1.0, max(0.0, satisfaction))
        tier = self.tier_weights.get(x.customer_tier or "", 0.0)
        return {
            "wording": wording,
            "wait": wait,
            "need": need_value,
            "dissatisfaction": dissatisfaction,
            "tier": tier,
        }

    def _features(self, x: Example) -> dict[str, float]:
        features = self.factors(x)
        features[f"need={x.need or '?'}"] = 1.0
        features[f"tier={x.customer_tier or '?'}"] = 1.0
        features[f"channel={x.channel or '?'}"] = 1.0
        return features

    @property
    def learned_share(self) -> float:
        """How much of the score comes from the learned model (0 until ``min_labels``)."""
        beyond = self._version - self.min_labels
        if beyond < 0:
            return 0.0
        return self.max_share * min(1.0, (beyond + 1) / max(1, self.ramp))

    # -- protocol ----------------------------------------------------------------------------

    def predict_one(self, x: Example) -> UrgencyPrediction:
        contributions = self._contributions(x)
        score = min(1.0, max(0.0, sum(contributions.values())))
        return UrgencyPrediction(score, level_of(score), contributions)

    def _contributions(self, x: Example) -> dict[str, float]:
        factors = self.factors(x)
        prior = {"base": PRIOR_BASE} | {k: PRIOR_WEIGHTS[k] * v for k, v in factors.items()}
        share = self.learned_share
        if share == 0.0:
            return prior
        features = self._features(x)
        weights = self.regressor.weights
        learned = {"base": float(self.regressor.intercept)}
        learned |= {k: weights.get(k, 0.0) * v for k, v in features.items()}
        keys = list(dict.fromkeys([*prior, *learned]))
        return {k: (1.0 - share) * prior.get(k, 0.0) + share * learned.get(k, 0.0) for k in keys}

    def _learn_one(self, x: Example, y: Any) -> None:
        """Learn a priority label (``"P1"``..``"P4"``, 1..4 or a score in [0, 1])."""
        self.regressor.learn_one(self._features(x), parse_priority(y))

    def explain_one(self, x: Example) -> dict[str, float]:
        """Each factor's contribution to the score (they sum to the unclipped score)."""
        return self.predict_one(x).factors
