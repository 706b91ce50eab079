"""Class balancing of an online softmax regression, through its SGD step.

An example of class ``y`` is learned with the step ``learning_rate * (n / (k * n_y)) **
balance``: ``n`` examples learned, ``k`` classes, ``n_y`` of them ``y`` (counting this
one), so rare classes are not drowned by frequent ones; ``balance`` 0 learns every
example alike. The step goes through the optimizer's rate, so River's own step and the
tight one (:func:`models.bundle.tight_softmax`) stay equal.

>>> balanced_rate(1.0, 0.5, {"refund": 9, "privacy": 1}, "privacy")  # (10 / 2) ** 0.5
2.23606797749979
>>> balanced_rate(1.0, 0.0, {"refund": 9, "privacy": 1}, "privacy")
1.0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["balanced_rate", "set_softmax_rate"]


def balanced_rate(
    learning_rate: float, balance: float, counts: Mapping[Any, int], label: Any
) -> float:
    """The SGD step for an example of ``label``, ``counts`` holding it already."""
    if not balance:
        return learning_rate
    share = sum(counts.values()) / (len(counts) * counts[label])
    return float(learning_rate * share**balance)


def set_softmax_rate(model: Any, rate: float) -> None:
    """Every class's SGD step of a River SoftmaxRegression (a class new to it copies
    ``optimizer``'s)."""
    for optimizer in (model.optimizer, *model.optimizers.values()):
        optimizer.lr.learning_rate = rate
