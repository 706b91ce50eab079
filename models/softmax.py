"""Softmax regression over a dense term x class matrix: River's arithmetic, laid out for speed.

River's :class:`~river.linear_model.SoftmaxRegression` keeps one ``{term: weight}`` dict
per class. A prediction then looks every term of the text up in every class's dict, and
with the need model's 18 classes and tens of thousands of terms those lookups miss the
CPU caches: about 45 µs a prediction and 100 µs a step on the bench's texts, half of all
the learner's time. :class:`DenseSoftmax` computes the same model (multinomial logistic
regression, cross-entropy, plain SGD, optional L2, no intercept) over one matrix with a
row per term: a text's rows are gathered once and every class is scored from them.

The arithmetic is River's, step for step: logits are the products ``w * x`` summed
feature by feature in the text's order, probabilities are clamped to ``[1e-15, 1 -
1e-15]`` for the gradient, each weight gets ``w -= rate * (x * loss + l2 * w)``, and a
label seen for the first time is learned with the probability 0 it did not have. The
one difference is where River sums a young class's few weights in its own order rather
than the text's: floating-point sums in another order may differ in the last bits
(``tests/unit/test_softmax.py`` holds both to 1e-9 over thousands of steps).

>>> model = DenseSoftmax()
>>> model.predict_proba_one({"refund": 1.0})
{}
>>> for _ in range(3):
...     model.learn_one({"refund": 0.8, "money": 0.6}, "refund")
...     model.learn_one({"parcel": 0.8, "late": 0.6}, "delivery")
>>> model.labels
['refund', 'delivery']
>>> {k: round(p, 3) for k, p in model.predict_proba_one({"money": 1.0}).items()}
{'refund': 0.757, 'delivery': 0.243}
>>> model.predict_one({"late": 1.0})
'delivery'
>>> round(model.weight("refund", "money"), 4), model.weight("refund", "unseen")
(0.8675, 0.0)
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from river import base

__all__ = ["DenseSoftmax"]

Floats = npt.NDArray[np.float64]

#: River's CrossEntropy clamps probabilities to this distance from 0 and 1.
_CLAMP = 1e-15


def _softmax(logits: Floats) -> Floats:
    exps: Floats = np.exp(logits - logits.max())
    exps /= exps.sum()
    return exps


class DenseSoftmax(base.Classifier):
    """Multinomial logistic regression by SGD, River's ``SoftmaxRegression`` (with an
    ``optim.SGD(learning_rate)`` optimizer, cross-entropy and ``l2``) over a dense matrix.

    Parameters
    ----------
    learning_rate
        The SGD step. It may be changed between steps (class balancing does).
    l2
        L2 penalty on the weights of the features of each step.
    """

    def __init__(self, learning_rate: float = 1.0, l2: float = 0.0) -> None:
        self.learning_rate = learning_rate
        self.l2 = l2
        self.labels: list[Any] = []  # in order of first appearance (River's weights order)
        self.terms: dict[Any, int] = {}  # term -> its row of the weights
        self._weights: Floats = np.zeros((64, 4), dtype=np.float64)  # grown by doubling

    # -- River's classifier protocol ---------------------------------------------------
    def predict_proba_one(self, x: Mapping[Any, float]) -> dict[Any, float]:  # type: ignore[override]
        """Each label's probability (empty before the first label is learned)."""
        if not self.labels:
            return {}
        return dict(zip(self.labels, self._proba(x).tolist(), strict=True))

    def learn_one(self, x: Mapping[Any, float], y: Any) -> None:
        """One SGD step on ``(x, y)``: the probabilities of the labels known so far, then
        every label's weights of ``x``'s features (``y``'s too, if it is new)."""
        rows = self._grow(x)  # a new term's row is zeros: it adds nothing to the logits
        values = np.fromiter(x.values(), dtype=np.float64, count=len(x))
        proba = _softmax(self._logits(rows, values)) if self.labels else np.zeros(0)
        loss = np.maximum(np.minimum(proba, 1 - _CLAMP), _CLAMP)
        if y in self.labels:
            loss[self.labels.index(y)] -= 1.0
        else:
            loss = np.append(loss, _CLAMP - 1.0)
            self._add_label(y)
        if not len(rows):
            return
        k = len(self.labels)
        gradient = values[:, None] * loss[None, :]
        if self.l2:
            gradient = gradient + self.l2 * self._weights[rows, :k]
        if self.learning_rate != 1.0:  # (1.0 * g is g: River's step is the same)
            gradient = self.learning_rate * gradient
        self._weights[rows, :k] -= gradient

    def keep(self, terms: Container[Any]) -> int:
        """Forget the weights of every term not in ``terms``; how many terms were forgotten.

        What a vocabulary bound needs: the need model's TF-IDF forgets its rarest terms
        past a limit, and their weight rows go with them (River's dicts kept them all).
        """
        kept = [term for term in self.terms if term in terms]
        forgotten = len(self.terms) - len(kept)
        if forgotten:
            rows = np.fromiter(map(self.terms.__getitem__, kept), np.intp, len(kept))
            matrix = self._weights[rows]
            self._weights = np.zeros((max(64, 2 * len(kept)), matrix.shape[1]))
            self._weights[: len(kept)] = matrix
            self.terms = dict(zip(kept, range(len(kept)), strict=True))
        return forgotten

    # -- what scoring and explanations read --------------------------------------------
    def weight(self, label: Any, term: Any) -> float:
        """The weight of ``term`` for ``label`` (0.0 for either unknown)."""
        return self.class_weights(label, [term])[0]

    def class_weights(self, label: Any, terms: Iterable[Any]) -> list[float]:
        """The weights of ``terms`` for ``label``, in order (0.0 where unknown)."""
        rows = [self.terms.get(term) for term in terms]
        if label not in self.labels:
            return [0.0] * len(rows)
        column = self._weights[:, self.labels.index(label)]
        return [0.0 if row is None else float(column[row]) for row in rows]

    def matrix(self) -> Floats:
        """The weights, terms x labels (rows in the order of :attr:`terms`); a view."""
        return self._weights[: len(self.terms), : len(self.labels)]

    @property
    def weights(self) -> dict[Any, dict[Any, float]]:
        """River's layout, ``{label: {term: weight}}`` (a copy, built on each call)."""
        matrix = self.matrix()
        return {
            label: dict(zip(self.terms, matrix[:, k].tolist(), strict=True))
            for k, label in enumerate(self.labels)
        }

    @classmethod
    def from_river(cls, model: Any, learning_rate: float | None = None) -> DenseSoftmax:
        """A River ``SoftmaxRegression``'s weights in this layout (older snapshots)."""
        rate = model.optimizer.learning_rate if learning_rate is None else learning_rate
        dense = cls(learning_rate=float(rate), l2=float(model.l2))
        for label in model.weights:
            dense._add_label(label)
        for k, per_class in enumerate(model.weights.values()):
            rows = dense._grow(per_class)
            dense._weights[rows, k] = np.fromiter(per_class.values(), np.float64, len(rows))
        return dense

    # -- internals ---------------------------------------------------------------------
    def _proba(self, x: Mapping[Any, float]) -> Floats:
        """The labels' probabilities; terms never learned (no weight in any class) left out."""
        rows, values = list(map(self.terms.get, x)), list(x.values())
        if None in rows:
            known = [(row, v) for row, v in zip(rows, values, strict=True) if row is not None]
            rows, values = [row for row, _ in known], [v for _, v in known]
        return _softmax(self._logits(np.array(rows, dtype=np.intp), np.array(values)))

    def _logits(self, rows: npt.NDArray[np.intp], values: Floats) -> Floats:
        # Summed feature by feature in x's order (a C-ordered reduce over axis 0 adds row
        # after row), as River's dot product does; no feature: every logit is 0.
        products = self._weights.take(rows, axis=0)[:, : len(self.labels)] * values[:, None]
        logits: Floats = np.add.reduce(products, axis=0)
        return logits

    def _grow(self, x: Iterable[Any]) -> npt.NDArray[np.intp]:
        """The row of each of ``x``'s terms, new terms getting a row of zeros."""
        terms = self.terms
        for term in x:
            if term not in terms:
                terms[term] = len(terms)
        if len(terms) > self._weights.shape[0]:
            self._resize(rows=max(len(terms), 2 * self._weights.shape[0]))
        return np.fromiter(map(terms.__getitem__, x), dtype=np.intp)

    def _add_label(self, label: Any) -> None:
        self.labels.append(label)
        if len(self.labels) > self._weights.shape[1]:
            self._resize(columns=2 * self._weights.shape[1])

    def _resize(self, *, rows: int | None = None, columns: int | None = None) -> None:
        old = self._weights
        grown = np.zeros((rows or old.shape[0], columns or old.shape[1]), dtype=np.float64)
        grown[: old.shape[0], : old.shape[1]] = old
        self._weights = grown

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_weights"] = self.matrix().copy()  # no spare capacity in a snapshot
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        weights = self._weights
        # Room to grow again; an empty model keeps a small matrix.
        self._weights = np.zeros((max(64, weights.shape[0]), max(4, weights.shape[1])))
        self._weights[: weights.shape[0], : weights.shape[1]] = weights
