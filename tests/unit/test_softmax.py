"""The dense softmax regression learns River's model: the same probabilities and weights,
to the last bits a different order of summing may change."""

from __future__ import annotations

import math
import pickle
import random
from typing import Any

import numpy as np
import pytest
from river import linear_model, optim

from crmstream.generator import EventGenerator
from models.balancing import set_softmax_rate
from models.features import Example
from models.need import NeedClassifier
from models.softmax import DenseSoftmax

CLOSE = 1e-9


def river_softmax(l2: float = 0.0) -> linear_model.SoftmaxRegression:
    return linear_model.SoftmaxRegression(optimizer=optim.SGD(1.0), l2=l2)


def need_stream(seed: int, count: int) -> list[tuple[dict[str, float], str, float]]:
    """Generated labelled texts as the need model sees them: (TF-IDF, need, balanced step)."""
    features = NeedClassifier()
    stream = []
    for event in EventGenerator(seed, label_share=1.0).events(count):
        if event.kind != "communication" or not event.value.get("need"):
            continue
        need = event.value["need"]
        x = Example(event.value["text"], language=event.value.get("language"))
        features._counts[need] = features._counts.get(need, 0) + 1
        features.tfidf.learn(x.tokens)
        stream.append((features.features(x), need, features._rate(need)))
    return stream


def young_classes(seed: int) -> list[tuple[dict[str, float], str, float]]:
    """Classes first learned on short texts, then on longer ones in another order: River
    then sums a class's few weights in their own order, not the text's."""
    rng = random.Random(seed)
    vocabulary = sorted({"".join(rng.choices("bcdfghklmnprstvz", k=6)) for _ in range(80)})
    stream = []
    for n in range(40):
        first = rng.sample(vocabulary, 6)
        following = [*reversed(first), *rng.sample([v for v in vocabulary if v not in first], 20)]
        for words in (first, following):
            stream.append(({w: rng.random() for w in words}, f"need{n}", 1.0))
    return stream


def assert_same_model(river: Any, dense: DenseSoftmax) -> None:
    assert dense.labels == list(river.weights)
    for label, weights in river.weights.items():
        for term, weight in weights.items():
            assert math.isclose(dense.weight(label, term), weight, rel_tol=CLOSE, abs_tol=CLOSE)
    # Where River has no weight (a class created after the term was last seen), 0.
    matrix = dense.matrix()
    for k, label in enumerate(dense.labels):
        missing = [dense.terms[t] for t in dense.terms if t not in river.weights[label]]
        assert not matrix[missing, k].any()


@pytest.mark.parametrize(
    ("stream", "l2"),
    [
        (need_stream(3, 3000), 0.0),
        (need_stream(4, 1500), 0.01),
        (young_classes(11), 0.0),
    ],
    ids=["needs", "needs-l2", "young-classes"],
)
def test_the_dense_softmax_learns_river_s_model(
    stream: list[tuple[dict[str, float], str, float]], l2: float
) -> None:
    river, dense = river_softmax(l2), DenseSoftmax(l2=l2)
    for x, y, rate in stream:
        expected, got = river.predict_proba_one(x), dense.predict_proba_one(x)
        assert list(got) == list(expected)
        for label, p in expected.items():
            assert math.isclose(got[label], p, rel_tol=CLOSE, abs_tol=CLOSE)
        set_softmax_rate(river, rate)
        dense.learning_rate = rate
        river.learn_one(x, y)
        dense.learn_one(x, y)
    assert len(dense.labels) > 5
    assert_same_model(river, dense)


def test_from_river_lays_out_the_same_weights() -> None:
    river = river_softmax()
    for x, y, rate in need_stream(5, 1500):
        set_softmax_rate(river, rate)
        river.learn_one(x, y)
    dense = DenseSoftmax.from_river(river)
    assert_same_model(river, dense)
    assert dense.weights == {
        label: {t: river.weights[label].get(t, 0.0) for t in dense.terms} for label in dense.labels
    }


def test_an_old_need_snapshot_is_read_into_the_dense_layout() -> None:
    """A NeedClassifier pickled with River's softmax (snapshots before the dense layout)."""
    old = NeedClassifier()
    old.classifier = river_softmax()  # type: ignore[assignment]
    texts = [("refund my money please", "refund"), ("where is my parcel", "delivery")] * 5
    for text, need in texts:
        old._counts[need] = old._counts.get(need, 0) + 1
        old.tfidf.learn(Example(text).tokens)
        set_softmax_rate(old.classifier, old._rate(need))
        old.classifier.learn_one(old.features(Example(text)), need)
    late = Example("my parcel is late")
    expected = old.classifier.predict_proba_one(old.features(late))
    restored = pickle.loads(pickle.dumps(old))
    assert isinstance(restored.classifier, DenseSoftmax)
    got = restored.predict_one(late)
    assert got.label == max(expected, key=expected.__getitem__) == "delivery"
    assert math.isclose(got.confidence, expected["delivery"], rel_tol=CLOSE)
    assert [t for t, _ in got.terms] == ["parcel"]  # "late" was never learned
    restored.learn_one(Example("refund please"), "refund")  # and it learns on
    assert restored.classes == ["refund", "delivery"]


def test_a_snapshot_holds_no_spare_room_and_grows_again() -> None:
    model = DenseSoftmax()
    for i in range(100):
        model.learn_one({f"t{i}": 1.0, "common": 0.5}, f"c{i % 5}")
    state = model.__getstate__()
    assert state["_weights"].shape == (101, 5)
    copy = pickle.loads(pickle.dumps(model))
    assert copy.weights == model.weights
    x = {"t3": 1.0, "new": 1.0}
    assert copy.predict_proba_one(x) == model.predict_proba_one(x)
    copy.learn_one({"more": 1.0}, "c9")
    model.learn_one({"more": 1.0}, "c9")
    assert np.array_equal(copy.matrix(), model.matrix())


def test_unknown_terms_and_labels_weigh_nothing() -> None:
    model = DenseSoftmax()
    model.learn_one({"refund": 1.0}, "refund")
    assert model.class_weights("refund", ["refund", "never"]) == [-(1e-15 - 1.0), 0.0]
    assert model.class_weights("unknown", ["refund"]) == [0.0]
    assert model.predict_proba_one({"never": 1.0}) == {"refund": 1.0}
    assert model.predict_proba_one({}) == {"refund": 1.0}


def test_keep_forgets_the_other_terms_and_leaves_the_rest_alone() -> None:
    model = DenseSoftmax()
    for i in range(100):
        model.learn_one({f"t{i}": 1.0, "common": 0.5}, f"c{i % 3}")
    before = model.weights
    kept = {"common", "t5", "t50", "never-seen"}
    assert model.keep(kept) == 98  # of 101
    assert list(model.terms) == ["common", "t5", "t50"]
    assert model.weights == {
        label: {t: w for t, w in weights.items() if t in kept} for label, weights in before.items()
    }
    assert model.keep(kept) == 0  # nothing more to forget
    model.learn_one({"t5": 1.0, "new": 1.0}, "c1")  # and it learns on
    assert list(model.terms) == ["common", "t5", "t50", "new"]


def test_the_need_model_s_weights_follow_its_vocabulary_bound() -> None:
    """Past the TF-IDF's term limit its rarest half is forgotten, and their weights too."""
    model = NeedClassifier()
    model.tfidf.max_terms = 40
    rng = random.Random(5)
    for i in range(300):
        noise = ("".join(rng.choices("bcdfghjklmnpqrstvwxz", k=7)) for _ in range(4))
        words = ["refund" if i % 2 else "parcel", *noise]  # (letters: digits become <num>)
        x = Example(" ".join(words))
        model.learn_one(x, "refund" if i % 2 else "delivery")
        assert set(model.classifier.terms) <= set(model.tfidf.df)
    assert len(model.tfidf.df) <= model.tfidf.max_terms and model.tfidf.n == 300  # it forgot
    assert model.predict_one(Example("refund please")).label == "refund"
    assert model.predict_one(Example("my parcel")).label == "delivery"
