"""Urgency: the rule-based prior and how priority labels shift it."""

from __future__ import annotations

import pytest

from models.features import Example, with_context
from models.urgency import UrgencyModel, level_of, parse_priority


def test_urgent_wording_raises_urgency_in_english_and_chinese() -> None:
    model = UrgencyModel()
    calm_en = model.predict_one(Example("my invoice looks wrong", channel="email"))
    urgent_en = model.predict_one(Example("URGENT: my invoice looks wrong, fix it asap"))
    calm_zh = model.predict_one(Example("我的账单好像不对", language="zh"))
    urgent_zh = model.predict_one(Example("紧急！我的账单不对，请马上处理", language="zh"))
    assert urgent_en.score > calm_en.score
    assert urgent_zh.score > calm_zh.score
    assert urgent_en.factors["wording"] > 0 and calm_en.factors["wording"] == 0
    assert urgent_zh.factors["wording"] > 0 and calm_zh.factors["wording"] == 0
    assert level_of(urgent_en.score) == urgent_en.level
    assert urgent_en.level in ("P1", "P2") and calm_en.level in ("P3", "P4")
    assert sorted(UrgencyModel.urgent_hits(Example("please reply right away, urgent"))) == [
        "right away",
        "urgent",
    ]
    # 紧急 inside 十万火急-style longer phrases is counted once.
    assert UrgencyModel.urgent_hits(Example("十万火急")) == ["十万火急"]


def test_long_waits_tier_need_and_dissatisfaction_raise_urgency() -> None:
    model = UrgencyModel()
    short = model.predict_one(Example("any news?", channel="chat", wait_seconds=30))
    long = model.predict_one(Example("any news?", channel="chat", wait_seconds=3600))
    assert long.score > short.score
    assert long.factors["wait"] > short.factors["wait"]
    # The wait is judged against the channel: an hour is nothing for email.
    email = model.predict_one(Example("any news?", channel="email", wait_seconds=3600))
    assert email.score < long.score
    platinum = model.predict_one(Example("any news?", customer_tier="platinum"))
    standard = model.predict_one(Example("any news?", customer_tier="standard"))
    assert platinum.score > standard.score
    x = Example("any news?")
    complaint, billing = with_context(x, "complaint", None), with_context(x, "billing", None)
    assert model.predict_one(complaint).score > model.predict_one(billing).score
    unhappy, happy = with_context(x, None, 0.0), with_context(x, None, 1.0)
    assert model.predict_one(unhappy).score > model.predict_one(happy).score


def test_explanation_adds_up_to_the_score() -> None:
    model = UrgencyModel()
    x = Example("need help asap", channel="chat", wait_seconds=200, customer_tier="gold")
    x = with_context(x, "refund", 0.2)
    prediction = model.predict_one(x)
    factors = model.explain_one(x)
    assert set(factors) == {"base", "wording", "wait", "need", "dissatisfaction", "tier"}
    assert sum(factors.values()) == pytest.approx(prediction.score)


def test_priority_labels_shift_the_score() -> None:
    model = UrgencyModel(min_labels=10, ramp=50)
    x = Example("please look at my order", channel="email", wait_seconds=60)
    x = with_context(x, "delivery", None)
    prior = model.predict_one(x)
    assert prior.level == "P4"
    for _ in range(9):
        model.learn_one(x, "P1")
    assert model.predict_one(x) == prior  # not enough labels yet
    for _ in range(300):
        model.learn_one(x, "P1")
    learned = model.predict_one(x)
    assert learned.score > prior.score + 0.3
    assert learned.level in ("P1", "P2")
    assert model.learned_share == pytest.approx(0.8)
    assert sum(learned.factors.values()) == pytest.approx(learned.score)

    # And the other way: low-priority labels pull an urgent-looking message down.
    model = UrgencyModel(min_labels=10, ramp=50)
    loud = Example("URGENT asap!!! newsletter question", channel="chat")
    before = model.predict_one(loud)
    for _ in range(300):
        model.learn_one(loud, "P4")
    assert model.predict_one(loud).score < before.score - 0.2


@pytest.mark.parametrize("bad", ["P5", "high", True, 0, 1.5])
def test_bad_priorities_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="priority"):
        parse_priority(bad)
