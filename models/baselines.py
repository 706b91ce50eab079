"""scikit-learn batch baselines: TF-IDF + LogisticRegression, TF-IDF + Ridge.

They read the same tokens as the online models (the shared tokenizer, through
:attr:`models.features.Example.tokens`), so a comparison measures the learners, not the
text processing.

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

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge

from models.features import Example

__all__ = ["BatchTextClassifier", "BatchTextRegressor", "example_tokens"]


def example_tokens(x: Example | str) -> list[str]:
    """The analyzer: an Example's cached tokens (a plain string is wrapped first)."""
    return (x if isinstance(x, Example) else Example(x)).tokens


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
