"""Satisfaction: normalization of CSAT/NPS/stars, learning from scores and sentiment labels."""

from __future__ import annotations

import math

import pytest

from models.features import Example
from models.satisfaction import (
    SCALES,
    SatisfactionModel,
    normalize_score,
    parse_sentiment,
    sentiment_of_score,
)

POSITIVE = ["great service, thank you", "fast delivery and friendly agent", "服务很好，谢谢"]
NEGATIVE = ["terrible service, rude agent", "late delivery and broken item", "服务太差了，很失望"]
NEUTRAL = ["I received the invoice", "the parcel came on tuesday", "收到了发票"]


@pytest.mark.parametrize(
    ("kind", "score", "expected"),
    [
        ("csat", 1, 0.0),
        ("csat", 3, 0.5),
        ("csat", 4, 0.75),
        ("csat", 5, 1.0),
        ("nps", 0, 0.0),
        ("nps", 7, 0.7),
        ("nps", 10, 1.0),
        ("stars", 1, 0.0),
        ("stars", 2, 0.25),
        ("stars", 5, 1.0),
    ],
)
def test_normalize_usual_scales(kind: str, score: float, expected: float) -> None:
    assert math.isclose(normalize_score(score, *SCALES[kind]), expected)


def test_normalize_clips_and_validates() -> None:
    assert normalize_score(11, 0, 10) == 1.0
    assert normalize_score(-3, 0, 10) == 0.0
    with pytest.raises(ValueError, match="lo < hi"):
        normalize_score(3, 5, 5)
    with pytest.raises(ValueError, match="not a number"):
        normalize_score(float("nan"), 0, 10)


def test_sentiment_helpers() -> None:
    assert [sentiment_of_score(s) for s in (0.0, 0.35, 0.5, 0.7, 1.0)] == [
        "negative",
        "negative",
        "neutral",
        "positive",
        "positive",
    ]
    assert parse_sentiment(" NEG ") == "negative"
    assert parse_sentiment(True) == "positive"
    assert parse_sentiment("0.5") is None


def train(model: SatisfactionModel, rounds: int = 8) -> None:
    for _ in range(rounds):
        for text in POSITIVE:
            model.learn_one(Example(text), "positive")
        for text in NEGATIVE:
            model.learn_one(Example(text), "negative")
        for text in NEUTRAL:
            model.learn_one(Example(text), "neutral")


def test_learns_sentiment_labels() -> None:
    model = SatisfactionModel()
    assert model.predict_one(Example("whatever")).score == 0.5
    train(model)
    good = model.predict_one(Example("thank you, great agent"))
    bad = model.predict_one(Example("rude agent, terrible"))
    meh = model.predict_one(Example("received the invoice"))
    assert (good.sentiment, bad.sentiment, meh.sentiment) == ("positive", "negative", "neutral")
    assert good.score > meh.score > bad.score
    assert 0.0 <= bad.score <= 1.0 and 0.0 <= good.score <= 1.0
    assert any(term in {"great", "thank"} for term, _ in good.terms)
    assert model.predict_one(Example("服务很差，失望")).sentiment == "negative"


def test_learns_numeric_scores_and_binary_labels() -> None:
    model = SatisfactionModel()
    for _ in range(10):
        for text in POSITIVE:
            model.learn_one(Example(text), normalize_score(5, *SCALES["csat"]))
        for text in NEGATIVE:
            model.learn_one(Example(text), 0)  # a 0/1 label is the score 0 or 1
        for text in NEUTRAL:
            model.learn_one(Example(text), normalize_score(5, *SCALES["nps"]))
    assert model.n_scores == 90 and model.n_labels == 0
    good = model.predict_one(Example("friendly agent, thank you"))
    bad = model.predict_one(Example("broken item, terrible"))
    middle = model.predict_one(Example("the invoice came on tuesday"))
    assert good.score > 0.7 and bad.score < 0.3
    assert 0.3 < middle.score < 0.7
    assert (good.sentiment, bad.sentiment) == ("positive", "negative")


@pytest.mark.parametrize("target", [1.5, -0.1, "meh", None])
def test_bad_targets_are_refused(target: object) -> None:
    with pytest.raises(ValueError, match="satisfaction"):
        SatisfactionModel().learn_one(Example("hello"), target)
