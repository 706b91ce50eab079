"""The one interface every online model implements, in River's style.

A model predicts before it learns (progressive validation), learns one example at a
time, explains its predictions and can be saved and restored whole::

    model.predict_one(x)  ->  model.learn_one(x, y)  ->  model.snapshot()

:class:`OnlineModel` is the structural type (a :class:`typing.Protocol`);
:class:`BaseOnlineModel` is a small base class that provides the ``*_many`` defaults,
the ``version`` counter and pickle snapshots, so each model only writes
``predict_one``, ``_learn_one`` and ``explain_one``.

>>> class Mean(BaseOnlineModel[float, float]):
...     name = "mean"
...     def __init__(self) -> None:
...         super().__init__()
...         self.total = 0.0
...     def predict_one(self, x: float) -> float:
...         return self.total / self.version if self.version else 0.0
...     def _learn_one(self, x: float, y: Any) -> None:
...         self.total += float(y)
...     def explain_one(self, x: float) -> dict[str, float]:
...         return {"mean": self.predict_one(x)}
>>> model = Mean()
>>> model.learn_many([0.0, 0.0], [1.0, 3.0])
>>> model.predict_one(0.0), model.version
(2.0, 2)
>>> model.predict_many([0.0, 1.0])
[2.0, 2.0]
>>> isinstance(model, OnlineModel)
True

Snapshots are pickles of the whole model (of a class importable by name):

>>> from models.features import Example
>>> from models.keywords import KeywordExtractor
>>> keywords = KeywordExtractor(k=1)
>>> keywords.learn_many([Example("late parcel"), Example("late refund")], [None, None])
>>> copy = KeywordExtractor.restore(keywords.snapshot())
>>> copy.version, copy.predict_one(Example("late parcel"))
(2, [('parcel', 0.7027)])
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any, Generic, Protocol, Self, TypeVar, runtime_checkable

__all__ = ["BaseOnlineModel", "OnlineModel"]

X_contra = TypeVar("X_contra", contravariant=True)
X = TypeVar("X")
Y = TypeVar("Y")


@runtime_checkable
class OnlineModel(Protocol[X_contra, Y]):
    """An online model: X is the input (usually an Example), Y its prediction type."""

    name: str

    @property
    def version(self) -> int:
        """Number of examples learned so far (monotonic; kept by snapshot/restore)."""
        ...

    def predict_one(self, x: X_contra) -> Y:
        """Predict for one input, without learning from it."""
        ...

    def learn_one(self, x: X_contra, y: Any = None) -> None:
        """Update the model with one input and its target (None for the unsupervised
        models, as River's ``learn_one(x)``)."""
        ...

    def predict_many(self, xs: Sequence[X_contra]) -> list[Y]:
        """Predict for several inputs, in order."""
        ...

    def learn_many(self, xs: Sequence[X_contra], ys: Sequence[Any]) -> None:
        """Learn from several labelled inputs, in order."""
        ...

    def explain_one(self, x: X_contra) -> dict[str, float]:
        """The features or terms that drove the prediction for ``x``, by weight."""
        ...

    def snapshot(self) -> bytes:
        """The model's full state as bytes (signing happens elsewhere)."""
        ...

    @classmethod
    def restore(cls, data: bytes) -> Self:
        """Rebuild a model from :meth:`snapshot` output."""
        ...


class BaseOnlineModel(Generic[X, Y]):
    """Defaults shared by the models: ``version``, ``*_many``, pickle snapshots.

    Subclasses implement :meth:`predict_one`, :meth:`_learn_one` and :meth:`explain_one`.
    :meth:`learn_one` calls ``_learn_one`` and then counts the example.
    """

    name: str = "model"

    def __init__(self) -> None:
        self._version = 0

    @property
    def version(self) -> int:
        """Number of examples learned so far."""
        return self._version

    def predict_one(self, x: X) -> Y:
        raise NotImplementedError

    def _learn_one(self, x: X, y: Any) -> None:
        raise NotImplementedError

    def explain_one(self, x: X) -> dict[str, float]:
        raise NotImplementedError

    def learn_one(self, x: X, y: Any = None) -> None:
        """Learn from one example and bump :attr:`version` (the template: models implement
        :meth:`_learn_one`, and do not override this)."""
        self._learn_one(x, y)
        self._version += 1

    def predict_many(self, xs: Sequence[X]) -> list[Y]:
        """Predict each input in turn."""
        return [self.predict_one(x) for x in xs]

    def learn_many(self, xs: Sequence[X], ys: Sequence[Any]) -> None:
        """Learn each (input, target) pair in turn; both sequences must have the same length."""
        if len(xs) != len(ys):
            raise ValueError(f"learn_many got {len(xs)} inputs and {len(ys)} targets")
        for x, y in zip(xs, ys, strict=True):
            self.learn_one(x, y)

    def snapshot(self) -> bytes:
        """Pickle the whole model (highest protocol)."""
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def restore(cls, data: bytes) -> Self:
        """Unpickle a snapshot and check it is a ``cls``.

        Only restore bytes this service wrote: the caller verifies their signature first.
        """
        model = pickle.loads(data)
        if not isinstance(model, cls):
            raise TypeError(f"snapshot holds a {type(model).__name__}, not a {cls.__name__}")
        return model

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, version={self._version})"
