"""scikit-learn batch baselines: a plain one and a tuned one.

The **plain** baselines (TF-IDF + LogisticRegression with C = 1, TF-IDF + Ridge) read the
same tokens as the online models (the shared tokenizer, through
:attr:`models.features.Example.tokens`), so a comparison measures the learners, not the
text processing.

The **tuned** baselines are what a data scientist would hold the online models to:
TF-IDF with sublinear term frequency of word 1-2-grams (of the shared tokenizer's tokens)
plus character n-grams of the text (2-5-grams within word boundaries, or 1-3-grams when
most training texts hold Han characters, which have no word boundaries), and a linear
model whose regularization is chosen by 3-fold cross-validation on the training part
only (:class:`TunedTextClassifier`: a linear SVM, C in :data:`TUNED_C`;
:class:`TunedTextRegressor`: Ridge, alpha in :data:`TUNED_ALPHA`). ``fit`` sees only
what it is given: the evaluation gives it the training part, never the test part.

>>> from models.features import Example
>>> texts = ["refund please", "money back now", "parcel late", "where is my parcel"]
>>> clf = BatchTextClassifier().fit([Example(t) for t in texts],
...                                 ["refund", "refund", "delivery", "delivery"])
>>> clf.predict([Example("my parcel is late")])
['delivery']
>>> reg = BatchTextRegressor().fit([Example(t) for t in texts], [0.0, 0.0, 1.0, 1.0])
>>> reg.predict([Example("parcel")])[0] > 0.5
True
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.svm import LinearSVC

from models.features import Example

__all__ = [
    "CV_FOLDS",
    "TUNED_ALPHA",
    "TUNED_C",
    "BatchTextClassifier",
    "BatchTextRegressor",
    "TunedTextClassifier",
    "TunedTextRegressor",
    "example_text",
    "example_tokens",
    "example_word_ngrams",
    "mostly_han",
]

#: The C values the tuned classifier's cross-validation chooses from.
TUNED_C: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0, 3.0)
#: The alpha values the tuned regressor's cross-validation chooses from.
TUNED_ALPHA: tuple[float, ...] = (0.3, 1.0, 3.0, 10.0)
#: Folds of the tuned baselines' cross-validation (on the training part).
CV_FOLDS = 3

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def example_tokens(x: Example | str) -> list[str]:
    """The analyzer: an Example's cached tokens (a plain string is wrapped first)."""
    return (x if isinstance(x, Example) else Example(x)).tokens


def example_word_ngrams(x: Example | str) -> list[str]:
    """The analyzer of the tuned baselines' word part: tokens, then adjacent pairs.

    >>> example_word_ngrams(Example("flight delayed again"))
    ['flight', 'delayed', 'again', 'flight delayed', 'delayed again']
    """
    tokens = example_tokens(x)
    return tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]


def example_text(x: Example | str) -> str:
    """The preprocessor of the tuned baselines' character part: NFKC-folded, lower case."""
    text = x.text if isinstance(x, Example) else x
    return unicodedata.normalize("NFKC", text).lower()


def mostly_han(xs: Sequence[Example | str]) -> bool:
    """Whether more than half of the texts hold a Han character (Chinese, no word spaces).

    >>> mostly_han(["很快，好吃", "味道足", "ok"]), mostly_han(["late flight", "好"])
    (True, False)
    """
    texts = [x.text if isinstance(x, Example) else x for x in xs]
    return 2 * sum(1 for t in texts if _HAN.search(t)) > len(texts)


def _tuned_features(han: bool) -> tuple[TfidfVectorizer, TfidfVectorizer]:
    words = TfidfVectorizer(analyzer=example_word_ngrams, lowercase=False, sublinear_tf=True)
    chars = TfidfVectorizer(
        analyzer="char" if han else "char_wb",
        ngram_range=(1, 3) if han else (2, 5),
        preprocessor=example_text,
        sublinear_tf=True,
        dtype=np.float64,
    )
    return words, chars


class _TunedFeatures:
    """Word 1-2-grams and character n-grams, each TF-IDF (sublinear tf), side by side."""

    def __init__(self) -> None:
        self.han = False
        self.words, self.chars = _tuned_features(False)

    def fit_transform(self, xs: Sequence[Example | str]) -> sparse.csr_matrix:
        self.han = mostly_han(xs)
        self.words, self.chars = _tuned_features(self.han)
        items = list(xs)
        return sparse.hstack(
            [self.words.fit_transform(items), self.chars.fit_transform(items)], format="csr"
        )

    def transform(self, xs: Sequence[Example | str]) -> sparse.csr_matrix:
        items = list(xs)
        return sparse.hstack(
            [self.words.transform(items), self.chars.transform(items)], format="csr"
        )

    def describe(self) -> str:
        chars = "character 1-3-grams" if self.han else "character 2-5-grams within words"
        return f"TF-IDF (sublinear tf) of word 1-2-grams + {chars}"


def _vectorizer() -> TfidfVectorizer:
    return TfidfVectorizer(analyzer=example_tokens, lowercase=False)


class BatchTextClassifier:
    """TF-IDF (shared tokenizer) + LogisticRegression (lbfgs, C=1)."""

    def __init__(self, C: float = 1.0, max_iter: int = 2000) -> None:
        self.vectorizer = _vectorizer()
        self.model = LogisticRegression(C=C, max_iter=max_iter)

    def fit(self, xs: Sequence[Example | str], ys: Sequence[Any]) -> Self:
        matrix = self.vectorizer.fit_transform(list(xs))
        self.model.fit(matrix, [str(y) for y in ys])
        return self

    def predict(self, xs: Sequence[Example | str]) -> list[str]:
        return [str(y) for y in self.model.predict(self.vectorizer.transform(list(xs)))]

    def predict_proba(self, xs: Sequence[Example | str]) -> list[dict[str, float]]:
        proba = self.model.predict_proba(self.vectorizer.transform(list(xs)))
        classes = [str(c) for c in self.model.classes_]
        return [dict(zip(classes, map(float, row), strict=True)) for row in proba]


class BatchTextRegressor:
    """TF-IDF (shared tokenizer) + Ridge (alpha=1); predictions clipped to [lo, hi]."""

    def __init__(self, alpha: float = 1.0, lo: float = 0.0, hi: float = 1.0) -> None:
        self.vectorizer = _vectorizer()
        self.model = Ridge(alpha=alpha)
        self.lo = lo
        self.hi = hi

    def fit(self, xs: Sequence[Example | str], ys: Sequence[float]) -> Self:
        matrix = self.vectorizer.fit_transform(list(xs))
        self.model.fit(matrix, np.asarray(ys, dtype=float))
        return self

    def predict(self, xs: Sequence[Example | str]) -> list[float]:
        predictions = self.model.predict(self.vectorizer.transform(list(xs)))
        return [float(v) for v in np.clip(predictions, self.lo, self.hi)]


class _Tuned:
    """The tuned features and a grid search of one parameter, fitted on given rows only."""

    parameter = ""

    def __init__(self, grid: Sequence[float], folds: int) -> None:
        self.grid = tuple(grid)
        self.folds = folds
        self.features = _TunedFeatures()
        self.search: GridSearchCV | None = None
        self.best: float | None = None
        self.cv_rows = 0

    def _fit(self, xs: Sequence[Example | str], ys: Any, estimator: Any, **search: Any) -> None:
        matrix = self.features.fit_transform(xs)
        self.search = GridSearchCV(estimator, {self.parameter: list(self.grid)}, n_jobs=1, **search)
        self.search.fit(matrix, ys)
        self.best = float(self.search.best_params_[self.parameter])
        self.cv_rows = matrix.shape[0]

    def _predict(self, xs: Sequence[Example | str]) -> Any:
        if self.search is None:
            raise RuntimeError("fit the model first")
        return self.search.predict(self.features.transform(xs))

    def describe(self) -> str:
        estimator = type(self.search.estimator).__name__ if self.search else "?"
        return (
            f"{self.features.describe()} + {estimator}, {self.parameter}={self.best:g}"
            f" by {self.folds}-fold CV"
        )


class TunedTextClassifier(_Tuned):
    """Word 1-2-grams + character n-grams (TF-IDF, sublinear tf) and a linear SVM whose C
    is chosen from :data:`TUNED_C` by :data:`CV_FOLDS`-fold cross-validation (accuracy) on
    the examples given to :meth:`fit`, the only ones it ever sees before predicting.

    ``best_C`` is the C chosen; ``cv_rows`` how many rows the cross-validation saw.
    """

    parameter = "C"

    def __init__(self, grid: Sequence[float] = TUNED_C, folds: int = CV_FOLDS) -> None:
        super().__init__(grid, folds)

    @property
    def best_C(self) -> float | None:
        return self.best

    def fit(self, xs: Sequence[Example | str], ys: Sequence[Any]) -> Self:
        labels = [str(y) for y in ys]
        # The smallest class bounds the folds a stratified split can make.
        smallest = min(labels.count(label) for label in set(labels))
        folds = max(2, min(self.folds, smallest))
        self._fit(xs, labels, LinearSVC(), cv=folds, scoring="accuracy")
        return self

    def predict(self, xs: Sequence[Example | str]) -> list[str]:
        return [str(y) for y in self._predict(xs)]


class TunedTextRegressor(_Tuned):
    """Word 1-2-grams + character n-grams (TF-IDF, sublinear tf) and Ridge whose alpha is
    chosen from :data:`TUNED_ALPHA` by :data:`CV_FOLDS`-fold cross-validation (mean absolute
    error) on the examples given to :meth:`fit`; predictions clipped to [lo, hi]."""

    parameter = "alpha"

    def __init__(
        self,
        grid: Sequence[float] = TUNED_ALPHA,
        folds: int = CV_FOLDS,
        lo: float = 0.0,
        hi: float = 1.0,
    ) -> None:
        super().__init__(grid, folds)
        self.lo = lo
        self.hi = hi

    @property
    def best_alpha(self) -> float | None:
        return self.best

    def fit(self, xs: Sequence[Example | str], ys: Sequence[float]) -> Self:
        targets = np.asarray(ys, dtype=float)
        self._fit(xs, targets, Ridge(), cv=self.folds, scoring="neg_mean_absolute_error")
        return self

    def predict(self, xs: Sequence[Example | str]) -> list[float]:
        return [float(v) for v in np.clip(self._predict(xs), self.lo, self.hi)]
