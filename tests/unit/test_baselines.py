"""The batch baselines: the tuned one chooses C by cross-validation on what it is fitted on."""

from __future__ import annotations

import random

import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.svm import LinearSVC

from models.baselines import (
    TUNED_C,
    TunedTextClassifier,
    TunedTextRegressor,
    example_word_ngrams,
    mostly_han,
)
from models.features import Example

WORDS = {
    "refund": ["refund", "money", "back", "charged", "twice", "reimburse"],
    "delivery": ["parcel", "arrived", "late", "courier", "tracking", "delivery"],
    "account": ["password", "login", "locked", "reset", "account", "email"],
}


def texts(n: int, seed: int, noise: float = 0.3) -> tuple[list[Example], list[str]]:
    """Three needs, each text 4 of its words; a share of the labels is random noise."""
    rng = random.Random(seed)
    xs, ys = [], []
    for _ in range(n):
        need = rng.choice(sorted(WORDS))
        xs.append(Example(" ".join(rng.sample(WORDS[need], 4))))
        ys.append(rng.choice(sorted(WORDS)) if rng.random() < noise else need)
    return xs, ys


def test_c_is_chosen_by_cross_validation_on_the_fitted_rows_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    train_x, train_y = texts(150, seed=1)
    test_x, _ = texts(60, seed=2)
    seen: list[int] = []
    fit = GridSearchCV.fit

    def recording_fit(self, X, y=None, **params):  # type: ignore[no-untyped-def]
        seen.append(X.shape[0])
        return fit(self, X, y, **params)

    monkeypatch.setattr(GridSearchCV, "fit", recording_fit)
    model = TunedTextClassifier().fit(train_x, train_y)
    assert seen == [len(train_x)] and model.cv_rows == len(train_x)
    assert model.best_C in TUNED_C
    predictions = model.predict(test_x)
    assert len(predictions) == len(test_x) and seen == [len(train_x)]  # predicting fits nothing
    # The same choice as a cross-validation of the same grid on the training features alone.
    matrix = model.features.transform(train_x)
    alone = GridSearchCV(LinearSVC(), {"C": list(TUNED_C)}, cv=3, scoring="accuracy")
    alone.fit(matrix, train_y)
    assert model.best_C == alone.best_params_["C"]


def test_the_grid_matters() -> None:
    """A grid of one value chooses it; the fitted model follows the choice."""
    train_x, train_y = texts(120, seed=3)
    for c in (0.03, 3.0):
        model = TunedTextClassifier(grid=[c]).fit(train_x, train_y)
        assert model.best_C == c
        assert model.search is not None and c == model.search.best_estimator_.C


def test_features_are_word_pairs_and_characters() -> None:
    assert example_word_ngrams(Example("parcel arrived late")) == [
        "parcel", "arrived", "late", "parcel arrived", "arrived late",
    ]  # fmt: skip
    english_x, english_y = texts(90, seed=4, noise=0.0)
    model = TunedTextClassifier().fit(english_x, english_y)
    names = set(model.features.chars.get_feature_names_out())
    assert " parc" in names and "late " in names  # within word boundaries, 2 to 5 long
    assert model.predict([Example("my parcel is late")]) == ["delivery"]
    chinese = [Example(t) for t in ("很快好吃", "太慢难吃", "好吃满意", "难吃失望")] * 6
    labels = ["1", "0", "1", "0"] * 6
    assert mostly_han(chinese)
    zh = TunedTextClassifier().fit(chinese, labels)
    assert {"好", "好吃", "很快好"} <= set(zh.features.chars.get_feature_names_out())
    assert zh.predict([Example("好吃")]) == ["1"]


def test_tuned_regressor_chooses_alpha_on_the_fitted_rows() -> None:
    train_x, labels = texts(120, seed=5, noise=0.0)
    scores = [1.0 if y == "refund" else 0.0 for y in labels]
    model = TunedTextRegressor().fit(train_x, scores)
    assert model.cv_rows == len(train_x) and model.best_alpha is not None
    low, high = model.predict([Example("parcel late courier"), Example("refund money back")])
    assert 0.0 <= low < 0.5 < high <= 1.0
