"""The need classifier's taxonomy grows online: a new label becomes predictable mid-stream."""

from __future__ import annotations

import random

import pytest

from models.features import Example
from models.need import NeedClassifier

TOPICS = {
    "delivery": [
        "where is my parcel",
        "the courier never delivered my package",
        "delivery is late again",
        "tracking says delivered but nothing arrived",
        "快递还没到",
    ],
    "billing": [
        "I was charged twice",
        "wrong amount on my invoice",
        "why is my bill so high this month",
        "double charge on my card",
        "账单金额不对",
    ],
    "account_access": [
        "cannot log in to my account",
        "password reset link does not work",
        "my account is locked after login attempts",
        "two factor code never arrives so I cannot sign in",
        "账号登录不了",
    ],
}


def stream(labels: list[str], n: int, seed: int) -> list[tuple[Example, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        label = rng.choice(labels)
        out.append((Example(rng.choice(TOPICS[label])), label))
    return out


def test_prediction_is_empty_before_learning() -> None:
    prediction = NeedClassifier().predict_one(Example("hello"))
    assert prediction.label is None
    assert prediction.confidence == 0.0
    assert prediction.top3 == [] and prediction.terms == []


def test_new_label_mid_stream_becomes_predictable() -> None:
    model = NeedClassifier()
    for x, y in stream(["delivery", "billing"], 60, seed=1):
        model.learn_one(x, y)
    assert model.classes == ["delivery", "billing"] or model.classes == ["billing", "delivery"]
    probe = Example("I cannot log in, the password reset fails")
    assert model.predict_one(probe).label != "account_access"

    # A label nobody declared arrives; after a handful of examples it is predicted.
    for x, y in stream(["delivery", "billing", "account_access"], 40, seed=2):
        model.learn_one(x, y)
    assert "account_access" in model.classes
    assert model.class_counts["account_access"] > 0
    prediction = model.predict_one(probe)
    assert prediction.label == "account_access"
    assert prediction.top3[0][0] == "account_access"
    assert len(prediction.top3) == 3
    assert abs(sum(model.predict_proba_one(probe).values()) - 1.0) < 1e-9
    assert 0.0 < prediction.confidence <= 1.0
    assert any(term in {"log", "password", "reset"} for term, _ in prediction.terms)
    # Old needs are still recognized.
    assert model.predict_one(Example("my parcel is late")).label == "delivery"
    assert model.predict_one(Example("double charge on my invoice")).label == "billing"


def test_prequential_accuracy_on_synthetic_stream() -> None:
    model = NeedClassifier()
    correct = 0
    data = stream(list(TOPICS), 300, seed=3)
    for i, (x, y) in enumerate(data):
        if i >= 150 and model.predict_one(x).label == y:
            correct += 1
        model.learn_one(x, y)
    assert correct / 150 > 0.9


@pytest.mark.parametrize("label", [None, "", "   "])
def test_empty_labels_are_refused(label: str | None) -> None:
    with pytest.raises(ValueError, match="need label"):
        NeedClassifier().learn_one(Example("hello"), label)


def test_rare_needs_are_learned_with_a_larger_step() -> None:
    """Class balancing: the step of an example of need y is (n / (k * n_y)) ** 0.5."""
    model = NeedClassifier()
    for _ in range(9):
        model.learn_one(Example("where is my parcel"), "delivery")
    assert model.classifier.learning_rate == 1.0  # one class: n = n_y
    model.learn_one(Example("charged twice"), "billing")
    # 10 examples, 2 needs, 1 billing: (10 / 2) ** 0.5 for the step of every class.
    assert model.classifier.learning_rate == 5.0**0.5
    model.learn_one(Example("where is my parcel"), "delivery")
    assert model.classifier.learning_rate == (11 / 20) ** 0.5
    unbalanced = NeedClassifier(balance=0.0)
    unbalanced.learn_many([Example("parcel"), Example("charged")], ["delivery", "billing"])
    assert unbalanced.classifier.learning_rate == 1.0


def test_balancing_lifts_a_rare_need() -> None:
    """A need 1 in 12 times, its texts close to the frequent one's: balanced, the model
    finds more of it (recall) in the second half of the stream."""
    rng = random.Random(3)
    shared = ["my", "order", "problem", "today", "please", "help", "account", "again"]
    data = []
    for _ in range(1500):
        label = "billing" if rng.random() < 1 / 12 else "delivery"
        # "charged" says billing, but not always: some delivery texts hold it too.
        charged = rng.random() < (0.8 if label == "billing" else 0.1)
        words = rng.sample(shared, 4) + (["charged"] if charged else [])
        data.append((Example(" ".join(words)), label))
    recalls = []
    for balance in (0.0, 0.5):
        model = NeedClassifier(balance=balance)
        found = rare = 0
        for i, (x, label) in enumerate(data):
            if i >= 750 and label == "billing":
                rare += 1
                found += model.predict_one(x).label == "billing"
            model.learn_one(x, label)
        recalls.append(found / rare)
    assert recalls[1] > recalls[0], recalls
