"""Every online model honours the one protocol: predict/learn one and many, explain, snapshots."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import pytest

from models.emerging import EmergingNeeds
from models.features import Example, from_record
from models.keywords import KeywordExtractor
from models.need import NeedClassifier
from models.protocol import BaseOnlineModel, OnlineModel
from models.satisfaction import SatisfactionModel
from models.urgency import UrgencyModel

TEXTS = [
    ("I was charged twice on my invoice", "en"),
    ("where is my parcel, it is three days late", "en"),
    ("please refund my order, it arrived broken", "en"),
    ("我的快递还没到，已经三天了", "zh"),
    ("请帮我退款，商品坏了", "zh"),
    ("cannot log in to my account, password reset fails", "en"),
    ("账号登录不了，密码重置失败", "zh"),
    ("thanks, the agent was great and fixed it fast", "en"),
]
NEEDS = ["billing", "delivery", "refund", "delivery", "refund", "account", "account", "billing"]
SATISFACTION = ["negative", "negative", 0.25, "negative", 0.0, "neutral", "negative", "positive"]
PRIORITIES = ["P3", "P2", "P2", "P2", "P3", "P1", "P1", "P4"]

Factory = Callable[[], BaseOnlineModel[Example, Any]]
CASES: dict[str, tuple[Factory, list[Any]]] = {
    "need": (NeedClassifier, NEEDS),
    "satisfaction": (SatisfactionModel, SATISFACTION),
    "urgency": (lambda: UrgencyModel(min_labels=2, ramp=4), PRIORITIES),
    "keywords": (KeywordExtractor, [None] * len(TEXTS)),
    "emerging": (lambda: EmergingNeeds(min_size=2, warmup_s=0, warmup_labels=2), NEEDS),
}


def examples() -> list[Example]:
    return [
        Example(text, language=lang, channel="chat", customer_tier="gold", wait_seconds=300)
        for text, lang in TEXTS
    ]


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> tuple[BaseOnlineModel[Example, Any], list[Any]]:
    factory, targets = CASES[request.param]
    return factory(), targets


def test_conforms_to_protocol(case: tuple[BaseOnlineModel[Example, Any], list[Any]]) -> None:
    model, targets = case
    assert isinstance(model, OnlineModel)
    assert isinstance(model.name, str) and model.name
    assert model.version == 0
    xs = examples()
    before = model.predict_many(xs)  # predicting before learning must not fail
    assert len(before) == len(xs)
    model.learn_one(xs[0], targets[0])
    assert model.version == 1
    model.learn_many(xs[1:], targets[1:])
    assert model.version == len(xs)
    model.learn_many(xs, targets)  # a second pass: version keeps counting
    assert model.version == 2 * len(xs)
    assert model.predict_many(xs) == [model.predict_one(x) for x in xs]
    for x in xs:
        explanation = model.explain_one(x)
        assert isinstance(explanation, dict)
        assert all(isinstance(k, str) and isinstance(v, float) for k, v in explanation.items())


def test_snapshot_restore_is_identical(
    case: tuple[BaseOnlineModel[Example, Any], list[Any]],
) -> None:
    model, targets = case
    xs = examples()
    model.learn_many(xs, targets)
    data = model.snapshot()
    assert isinstance(data, bytes)
    restored = type(model).restore(data)
    assert restored is not model
    assert restored.version == model.version
    assert restored.predict_many(xs) == model.predict_many(xs)
    assert [restored.explain_one(x) for x in xs] == [model.explain_one(x) for x in xs]
    # Both go on learning the same way.
    model.learn_one(xs[0], targets[0])
    restored.learn_one(xs[0], targets[0])
    assert restored.predict_many(xs) == model.predict_many(xs)


def test_explanations_are_not_empty_after_learning() -> None:
    x = examples()[2]
    need = NeedClassifier()
    need.learn_many(examples(), NEEDS)
    assert need.explain_one(x)
    satisfaction = SatisfactionModel()
    satisfaction.learn_many(examples(), SATISFACTION)
    assert satisfaction.explain_one(x)
    assert KeywordExtractor().explain_one(x)
    assert UrgencyModel().explain_one(x)


def test_restore_refuses_another_model() -> None:
    data = NeedClassifier().snapshot()
    with pytest.raises(TypeError):
        SatisfactionModel.restore(data)
    with pytest.raises(TypeError):
        NeedClassifier.restore(pickle.dumps({"not": "a model"}))


def test_learn_many_checks_lengths() -> None:
    with pytest.raises(ValueError, match="learn_many"):
        NeedClassifier().learn_many(examples(), NEEDS[:3])


def test_example_tokens_are_cached_and_shared() -> None:
    x = Example("Refund my order 12345 ASAP", language="en")
    assert x.tokens == ["refund", "order", "<num>", "asap"]
    assert x.tokens is x.tokens
    assert Example("请帮我退款", language="zh").tokens[-1] == "退款"


def test_from_record_reads_metadata() -> None:
    x = from_record(
        {
            "text": "hi",
            "language": "en",
            "channel": "email",
            "direction": "inbound",
            "metadata": {"customer_tier": "platinum", "wait_seconds": 3600},
        }
    )
    assert x == Example("hi", "en", "email", "inbound", "platinum", 3600.0)
    bare = from_record({"text": "hi", "metadata": {"wait_seconds": True}})
    assert bare.customer_tier is None and bare.wait_seconds is None and bare.channel is None


TEMPLATE_METHODS = ("learn_one", "learn_many", "predict_many", "snapshot", "restore", "version")


@pytest.mark.parametrize("name", sorted(CASES))
def test_no_model_overrides_the_template(name: str) -> None:
    """Models implement predict_one, _learn_one and explain_one; learn_one (which counts
    the version), the *_many defaults and snapshots are the base class's, so every
    model counts and saves the same way."""
    model = CASES[name][0]()
    mro = type(model).__mro__
    below_base = mro[: mro.index(BaseOnlineModel)]  # the model's classes, not the base's
    for method in TEMPLATE_METHODS:
        overriding = [k.__name__ for k in below_base if method in vars(k)]
        assert not overriding, (name, method, overriding)
    assert any("_learn_one" in vars(k) for k in below_base), name
