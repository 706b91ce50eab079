"""How satisfied the customer is: a score in [0, 1] and a sentiment, learned online.

Feedback comes on many scales (CSAT 1-5, NPS 0-10, stars 1-5): :func:`normalize_score`
maps them to [0, 1] (0 worst, 1 best) before the model sees them. Some sources give a
sentiment label instead (negative / neutral / positive); the model learns from both:

- a **sentiment classifier** (River :class:`~river.linear_model.SoftmaxRegression` over
  TF-IDF, the classes seen so far) learns every label, and every score through the
  thresholds of :func:`sentiment_of_score`;
- a **score model**, a softmax regression over score levels (``n_levels`` evenly spaced,
  0 to 1), learns every score as its nearest level and every label as the level of its
  score (negative 0, neutral 0.5, positive 1); its prediction is the expected level.

Measured prequentially (last 20%, TF-IDF features, scores 0/0.5/1 from the airline
sentiment and 0/1 from the waimai labels): the expected level had an MAE of 0.169 and
0.173, against 0.200 and 0.222 for River's LinearRegression (its best learning rate, 0.1),
0.210 / 0.221 for PARegressor and 0.195 / 0.205 for scikit-learn's batch Ridge. The
sentiment classifier had 0.780 (airline, 3 classes) and 0.892 (waimai, 2 classes)
accuracy, against 0.767 and 0.887 for batch TF-IDF + LogisticRegression.

>>> from models.features import Example
>>> model = SatisfactionModel()
>>> model.predict_one(Example("ok")).sentiment
'neutral'
>>> for _ in range(3):
...     model.learn_one(Example("great service, thank you so much"), "positive")
...     model.learn_one(Example("terrible, rude agent, never again"), "negative")
...     model.learn_one(Example("fast delivery, great food"), normalize_score(5, 1, 5))
>>> model.predict_one(Example("great food and service")).sentiment
'positive'
>>> model.predict_one(Example("rude and terrible")).score < 0.5
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from river import linear_model, optim

from models.features import Example, OnlineTfidf
from models.protocol import BaseOnlineModel

__all__ = [
    "SCALES",
    "SENTIMENT_SCORES",
    "SatisfactionModel",
    "SatisfactionPrediction",
    "Sentiment",
    "normalize_score",
    "parse_sentiment",
    "sentiment_of_score",
]

Sentiment = Literal["negative", "neutral", "positive"]

#: The score a sentiment label stands for.
SENTIMENT_SCORES: dict[str, float] = {"negative": 0.0, "neutral": 0.5, "positive": 1.0}

#: Usual feedback scales, (lowest, highest).
SCALES: dict[str, tuple[float, float]] = {"csat": (1, 5), "nps": (0, 10), "stars": (1, 5)}

_SYNONYMS: dict[str, Sentiment] = {
    "negative": "negative",
    "neg": "negative",
    "neutral": "neutral",
    "neu": "neutral",
    "positive": "positive",
    "pos": "positive",
}


def normalize_score(score: float, lo: float, hi: float) -> float:
    """Map ``score`` on the scale ``lo..hi`` to [0, 1] (clipped), 0 being the worst.

    >>> normalize_score(4, *SCALES["csat"])   # CSAT 4 of 5
    0.75
    >>> normalize_score(9, *SCALES["nps"])    # NPS 9 of 10
    0.9
    >>> normalize_score(1, *SCALES["stars"])  # 1 star of 5
    0.0
    >>> normalize_score(7, 1, 5)              # out of range: clipped
    1.0
    """
    if not hi > lo:
        raise ValueError(f"a scale needs lo < hi, got {lo}..{hi}")
    value = (float(score) - lo) / (hi - lo)
    if math.isnan(value):
        raise ValueError("score is not a number")
    return min(1.0, max(0.0, value))


def sentiment_of_score(
    score: float, negative_at_most: float = 0.35, positive_from: float = 0.7
) -> Sentiment:
    """The sentiment a normalized score stands for (the feedback generator's thresholds).

    >>> sentiment_of_score(0.25), sentiment_of_score(0.5), sentiment_of_score(0.75)
    ('negative', 'neutral', 'positive')
    """
    if score <= negative_at_most:
        return "negative"
    if score >= positive_from:
        return "positive"
    return "neutral"


def parse_sentiment(value: Any) -> Sentiment | None:
    """A sentiment label from text (``negative``/``neg``/..., any case) or a bool.

    >>> parse_sentiment("Positive"), parse_sentiment(False), parse_sentiment("meh")
    ('positive', 'negative', None)
    """
    if isinstance(value, bool):
        return "positive" if value else "negative"
    if isinstance(value, str):
        return _SYNONYMS.get(value.strip().lower())
    return None


@dataclass(frozen=True)
class SatisfactionPrediction:
    """Predicted satisfaction in [0, 1], its sentiment and the terms that drove it."""

    score: float
    sentiment: Sentiment
    terms: list[tuple[str, float]] = field(default_factory=list)


class SatisfactionModel(BaseOnlineModel[Example, SatisfactionPrediction]):
    """Learns satisfaction from normalized scores and from sentiment labels.

    ``learn_one(x, y)`` takes a score in [0, 1] (int or float: normalize first), a
    sentiment label (``"negative"``, ``"neutral"``, ``"positive"``) or a bool
    (``True`` positive). A 0/1 label is simply the score 0 or 1.

    Parameters
    ----------
    learning_rate
        SGD step of both softmax regressions.
    n_levels
        Number of score levels of the score model (5 fits CSAT and stars exactly).
    n_terms
        How many terms a prediction reports.
    """

    name = "satisfaction"

    def __init__(self, learning_rate: float = 1.0, n_levels: int = 5, n_terms: int = 5) -> None:
        super().__init__()
        if n_levels < 2:
            raise ValueError("n_levels must be at least 2")
        self.learning_rate = learning_rate
        self.n_levels = n_levels
        self.n_terms = n_terms
        self.tfidf = OnlineTfidf()
        self.sentiment = linear_model.SoftmaxRegression(optimizer=optim.SGD(learning_rate))
        self.levels = linear_model.SoftmaxRegression(optimizer=optim.SGD(learning_rate))
        self.n_labels = 0
        self.n_scores = 0

    def _level(self, score: float) -> int:
        return round(score * (self.n_levels - 1))

    def _level_value(self, level: Any) -> float:
        return float(level) / (self.n_levels - 1)

    def predict_proba_one(self, x: Example) -> dict[str, float]:
        """Probability of each sentiment seen so far (empty before any learning)."""
        return {
            str(k): float(v) for k, v in self.sentiment.predict_proba_one(self.features(x)).items()
        }

    def features(self, x: Example) -> dict[str, float]:
        """The TF-IDF vector both models see for ``x``."""
        return self.tfidf.transform(x.tokens)

    def predict_one(self, x: Example) -> SatisfactionPrediction:
        if not self._version:
            return SatisfactionPrediction(0.5, "neutral")
        features = self.features(x)
        proba = dict(self.sentiment.predict_proba_one(features))
        levels = self.levels.predict_proba_one(features)
        score = sum(self._level_value(level) * p for level, p in levels.items())
        score = min(1.0, max(0.0, float(score)))
        if proba:
            label = str(max(proba, key=lambda k: proba[k]))
            sentiment = parse_sentiment(label) or sentiment_of_score(score)
        else:
            sentiment = sentiment_of_score(score)
        return SatisfactionPrediction(score, sentiment, self._terms(features, sentiment))

    def _terms(self, features: dict[str, float], sentiment: str) -> list[tuple[str, float]]:
        weights: dict[str, float] = self.sentiment.weights.get(sentiment, {})
        contributions = [(t, v * weights.get(t, 0.0)) for t, v in features.items()]
        contributions = [(t, c) for t, c in contributions if c > 0]
        contributions.sort(key=lambda tc: tc[1], reverse=True)
        return [(t, round(c, 4)) for t, c in contributions[: self.n_terms]]

    def _learn_one(self, x: Example, y: Any) -> None:
        label = parse_sentiment(y)
        score: float | None = None
        if label is None:
            try:
                score = float(y)
            except (TypeError, ValueError):
                raise ValueError(
                    f"satisfaction target must be a score in [0, 1] or a sentiment, got {y!r}"
                ) from None
            if not 0.0 <= score <= 1.0:
                raise ValueError(f"satisfaction score {score} is outside [0, 1]: normalize it")
            label = sentiment_of_score(score)
        self.tfidf.learn(x.tokens)
        features = self.features(x)
        self.sentiment.learn_one(features, label)
        if score is None:
            self.n_labels += 1
            score = SENTIMENT_SCORES[label]
        else:
            self.n_scores += 1
        self.levels.learn_one(features, self._level(score))

    def explain_one(self, x: Example) -> dict[str, float]:
        """Terms that pushed towards the predicted sentiment (weight x tf-idf)."""
        return dict(self.predict_one(x).terms)
