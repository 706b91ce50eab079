"""Satisfaction: normalization of CSAT/NPS/stars, learning from scores and sentiment labels."""

from __future__ import annotations

import math
import pickle
import random

import pytest

from models.features import Example
from models.satisfaction import (
    GRAM_MARK,
    NEGATED,
    SCALES,
    OnlineNaiveBayes,
    SatisfactionModel,
    cue_terms,
    normalize_score,
    parse_sentiment,
    satisfaction_terms,
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


# -- the naive Bayes part, the Han n-grams, class balancing -------------------------------


def test_naive_bayes_is_the_multinomial_formula_over_distinct_terms() -> None:
    nb = OnlineNaiveBayes(alpha=0.5)
    nb.learn(["late", "late", "rude"], "negative")  # a term counts once per document
    nb.learn(["late", "crew"], "negative")
    nb.learn(["great", "crew"], "positive")
    assert nb.counts == {
        "late": {"negative": 2},
        "rude": {"negative": 1},
        "crew": {"negative": 1, "positive": 1},
        "great": {"positive": 1},
    }
    assert nb.totals == {"negative": 4, "positive": 2} and nb.documents == {
        "negative": 2,
        "positive": 1,
    }
    joint = nb.log_joint(["late", "crew", "crew", "never seen"])
    vocabulary = 4

    def expected(label: str, counts: list[int], documents: int, total: int) -> float:
        denominator = math.log(total + 0.5 * vocabulary)
        return math.log(documents / 3) + sum(math.log(c + 0.5) - denominator for c in counts)

    assert joint["negative"] == pytest.approx(expected("negative", [2, 1], 2, 4), abs=1e-12)
    assert joint["positive"] == pytest.approx(expected("positive", [0, 1], 1, 2), abs=1e-12)
    assert list(joint) == ["negative", "positive"]


def test_naive_bayes_memory_is_bounded() -> None:
    nb = OnlineNaiveBayes(max_terms=100)
    for i in range(300):
        nb.learn(["common", f"rare{i}"], "negative" if i % 2 else "positive")
    assert len(nb.counts) <= 100 and "common" in nb.counts
    recount: dict[str, int] = {}
    for per_class in nb.counts.values():
        for label, count in per_class.items():
            recount[label] = recount.get(label, 0) + count
    assert nb.totals == recount


def test_han_n_grams_are_terms_of_chinese_text_only() -> None:
    english = Example("rude agent, late again")
    assert satisfaction_terms(english) is english.tokens
    chinese = Example("送餐很快")
    terms = satisfaction_terms(chinese)
    assert terms[: len(chinese.tokens)] == chinese.tokens
    grams = terms[len(chinese.tokens) :]
    assert grams == [GRAM_MARK + g for g in ["送", "餐", "很", "快", "送餐", "餐很", "很快"]]


def test_cue_terms_mark_negated_words_and_punctuation() -> None:
    x = Example("The crew was not friendly, and no, I'm not happy!!! Why??? :-(")
    assert x.tokens == ["crew", "not", "friendly", "no", "not", "happy", "why"]
    # "no not": a negation after a negation is not negated; "?" and "!" counted once.
    assert cue_terms(x) == [NEGATED + "friendly", NEGATED + "happy", "#?", "#!", "#:("]
    assert cue_terms(Example("http://t.co/x a:b")) == []  # no emoticon in a link
    assert satisfaction_terms(x) == [*x.tokens, *cue_terms(x)]
    assert cue_terms(Example("thanks :) =D")) == ["#:)"]
    assert cue_terms(Example("ok ;) but late :(")) == ["#:)", "#:("]
    assert cue_terms(Example("没有收到！为什么？")) == [NEGATED + "收到", "#?", "#!"]  # full width
    assert cue_terms(Example("菜不好吃")) == [NEGATED + "好吃"]
    assert cue_terms(Example("not")) == [] and cue_terms(Example("")) == []
    # Cues follow the Han n-grams; a model without cues reads none.
    terms = satisfaction_terms(Example("不好吃!"))
    assert terms[-2:] == [NEGATED + "好吃", "#!"] and "#不好" in terms
    assert satisfaction_terms(x, cues=False) is x.tokens
    assert SatisfactionModel(cues=False).terms(x) is x.tokens


def test_cues_are_learned() -> None:
    """Two texts told apart by their cues alone: a question and a negation."""
    model = SatisfactionModel()
    for _ in range(20):
        model.learn_one(Example("the flight is on time?"), "neutral")
        model.learn_one(Example("the flight is on time"), "positive")
        model.learn_one(Example("the flight is not on time"), "negative")
    assert model.predict_one(Example("flight on time?")).sentiment == "neutral"
    assert model.predict_one(Example("flight on time")).sentiment == "positive"
    assert model.predict_one(Example("flight not on time")).sentiment == "negative"
    without = SatisfactionModel(cues=False)
    for _ in range(20):
        without.learn_one(Example("the flight is on time?"), "neutral")
        without.learn_one(Example("the flight is on time"), "positive")
    # Without the cue, the question and the statement are the same text.
    assert without.predict_proba_one(Example("on time?")) == without.predict_proba_one(
        Example("on time")
    )


def test_explanations_name_words_never_n_grams_or_cues() -> None:
    model = SatisfactionModel()
    train(model)
    for _ in range(5):
        model.learn_one(Example("not good!!! :("), "negative")
    prediction = model.predict_one(Example("服务太差了，很失望"))
    assert prediction.sentiment == "negative" and prediction.terms
    assert all(not term.startswith(GRAM_MARK) for term, _ in prediction.terms)
    prediction = model.predict_one(Example("not good, terrible service!! :("))
    assert prediction.sentiment == "negative" and prediction.terms
    assert all(not term.startswith(GRAM_MARK) for term, _ in prediction.terms)
    # The n-grams and cues are features all the same.
    assert any(t.startswith(GRAM_MARK) for t in model.features(Example("服务很好")))
    assert "#!" in model.features(Example("good!"))


def test_the_naive_bayes_part_counts_in_the_prediction() -> None:
    """The same model without its naive Bayes term gives other probabilities, and the
    prediction is the first of the highest combined logits."""
    model = SatisfactionModel()
    train(model)
    for x in (Example("thank you, but the delivery was late"), Example("服务太差了")):
        alone = pickle.loads(pickle.dumps(model))
        alone.nb_weight = alone.nb_weight_han = 0.0
        assert model.predict_proba_one(x) != alone.predict_proba_one(x)
        terms = model.terms(x)
        nb_weight = model.nb_weight_of(x)
        logits = model.logits(terms, model.features(x), nb_weight)
        softmax_only = alone.logits(terms, alone.features(x))
        joint = model.naive_bayes.log_joint(terms)
        for label, z in logits.items():
            assert z == softmax_only[label] + nb_weight * joint[label]
        best = max(logits, key=lambda k: logits[k])
        assert model.predict_one(x).sentiment == best


def test_text_with_han_has_its_own_naive_bayes_weight() -> None:
    model = SatisfactionModel(nb_weight=0.25, nb_weight_han=0.07)
    assert model.nb_weight_of(Example("rude agent")) == 0.25
    assert model.nb_weight_of(Example("服务太差了")) == 0.07
    assert model.nb_weight_of(Example("iPhone 屏幕坏了")) == 0.07


def test_class_balancing_steps_up_a_rare_sentiment() -> None:
    model = SatisfactionModel(balance=0.5)
    for _ in range(9):
        model.learn_one(Example("rude agent"), "negative")
    model.learn_one(Example("thank you"), "positive")
    assert model.sentiment_counts == {"negative": 9, "positive": 1}
    assert model._rate("positive") == pytest.approx(math.sqrt(10 / 2))
    assert model._rate("negative") == pytest.approx(math.sqrt(10 / 18))
    assert SatisfactionModel(balance=0.0)._rate("anything") == 1.0


def test_a_model_pickled_before_the_naive_bayes_part_predicts_as_it_did() -> None:
    """A snapshot of the softmax-only model (no naive Bayes, no balancing) restores as that."""
    old = SatisfactionModel(balance=0.0, nb_weight=0.0, nb_weight_han=0.0, cues=False)
    rng = random.Random(1)
    for _ in range(20):
        for text, label in zip(
            [*POSITIVE, *NEGATIVE, *NEUTRAL],
            ["positive"] * 3 + ["negative"] * 3 + ["neutral"] * 3,
            strict=True,
        ):
            old.learn_one(Example(text), label if rng.random() < 0.9 else "neutral")
    state = dict(old.__dict__)
    for attribute in ("naive_bayes", "balance", "nb_weight", "nb_weight_han", "cues"):
        del state[attribute]
    restored = SatisfactionModel.__new__(SatisfactionModel)
    restored.__setstate__(state)
    probes = [Example(t) for t in ("great agent", "rude and late", "invoice?", "服务很好")]
    assert [restored.predict_one(x) for x in probes] == [old.predict_one(x) for x in probes]
    restored.learn_one(Example("terrible"), "negative")  # learns on, naive Bayes included
    assert restored.naive_bayes.documents == {"negative": 1}
    assert restored.predict_one(Example("terrible")).sentiment == "negative"


def test_a_model_pickled_before_the_cues_predicts_as_it_did() -> None:
    """A snapshot of the model with one naive Bayes weight and no cues restores as that:
    no cue terms, its weight for all text."""
    old = SatisfactionModel(nb_weight=0.07, nb_weight_han=0.07, cues=False)
    train(old)
    for _ in range(5):
        old.learn_one(Example("not good at all!"), "negative")
    state = dict(old.__dict__)
    for attribute in ("nb_weight_han", "cues"):
        del state[attribute]
    restored = pickle.loads(pickle.dumps(SatisfactionModel.__new__(SatisfactionModel)))
    restored.__setstate__(state)
    assert (restored.cues, restored.nb_weight, restored.nb_weight_han) == (False, 0.07, 0.07)
    probes = [Example(t) for t in ("not good!", "rude and late?", "服务很好！", "ok")]
    assert [restored.predict_one(x) for x in probes] == [old.predict_one(x) for x in probes]
    assert restored.terms(probes[0]) is probes[0].tokens


def test_predict_score_is_the_prediction_s_score() -> None:
    """The learner's health step compares predict_score: it must be predict_one's score."""
    model = SatisfactionModel()
    probes = [Example(t) for t in [*POSITIVE, *NEGATIVE, *NEUTRAL, "", "whatever 好吗"]]
    assert [model.predict_score(x) for x in probes] == [0.5] * len(probes)
    train(model)
    for _ in range(5):
        for text in POSITIVE:
            model.learn_one(Example(text), 0.9)
    scores = [model.predict_score(x) for x in probes]
    assert scores == [model.predict_one(x).score for x in probes]
    assert len(set(scores)) > 3


def test_events_and_models_normalize_scores_with_one_function() -> None:
    from models import bundle, satisfaction
    from schemas import events

    assert satisfaction.normalize_score is events.normalize_score
    assert vars(bundle)["normalize_score"] is events.normalize_score
    rating = events.FeedbackEvent.model_validate(
        {
            "event_id": "f1",
            "occurred_at": "2026-01-05T09:00:00Z",
            "customer_id": "c1",
            "kind": "csat",
            "score": 2,
            "scale": {"min": 1, "max": 4},
        }
    )
    assert rating.normalized_score() == round(normalize_score(2, 1, 4), 6) == 0.333333
