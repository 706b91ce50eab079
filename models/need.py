"""What the customer needs: a multi-class model over a taxonomy that grows online.

There is no predefined list of needs: the first time a label arrives it becomes a class,
and it can be predicted from then on, without a redeploy.

The model is River's :class:`~river.linear_model.SoftmaxRegression` (multinomial logistic
regression, SGD with learning rate 1.0, no intercept), computed over a dense term x class
matrix (:class:`models.softmax.DenseSoftmax`: the same arithmetic, several times faster),
over L2-normalized TF-IDF of the shared tokenizer's tokens, with document frequencies
learned online, and **class balancing**: an example of a need seen ``n_y`` times out of
``n`` (``k`` needs) is learned with the step ``(n / (k n_y)) ** 0.5``, so rare needs are
not drowned by frequent ones.

It was chosen by prequential measurement on the airline tweets (need =
``negativereason``, 10 classes, time order, last 20%; the tuned batch baseline of
``crmstream eval``, word 1-2-grams + character 2-5-grams and a linear SVM with C chosen by
cross-validation, has 0.613 accuracy / 0.488 macro-F1):

- against Multinomial/Complement naive Bayes, one-vs-rest logistic regression and
  passive-aggressive classifiers, the softmax regression had the best accuracy and
  macro-F1 (0.601 / 0.470, vs 0.572 / 0.414 for batch TF-IDF + LogisticRegression) at
  about 0.1 ms a message. Unigrams beat unigrams + bigrams (0.581 / 0.416); an intercept
  feature hurt;
- class balancing with the exponent 0.5 gives 0.610 / 0.527 (0.3: 0.611 / 0.522): the
  rare needs' recall, hence macro-F1, rises by 5.7 points at no cost;
- character n-grams (3-4-grams within words, hashed to 2^14 buckets, a separately
  normalized block) added 0.8 / 1.6 more (0.618 / 0.543), but cost about 4 times the
  learning time and a bucket weight per need and bucket in every snapshot, for a
  model that is already at the tuned baseline: left out. Averaged SGD (0.588 / 0.421),
  AdaGrad (0.586 / 0.452) and passive-aggressive updates (0.543 / 0.453) were worse.

>>> from models.features import Example
>>> model = NeedClassifier()
>>> model.predict_one(Example("hello")).label is None
True
>>> for _ in range(3):
...     model.learn_one(Example("I want my money back, refund please"), "refund")
...     model.learn_one(Example("the parcel never arrived, where is my delivery"), "delivery")
>>> model.predict_one(Example("still waiting for my refund")).label
'refund'
>>> model.learn_one(Example("cannot log in, password reset link broken"), "account_access")
>>> model.classes
['refund', 'delivery', 'account_access']
>>> model.predict_one(Example("password reset does not work")).label
'account_access'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from river import linear_model

from models.balancing import balanced_rate
from models.features import Example, OnlineTfidf, top_terms
from models.protocol import BaseOnlineModel
from models.softmax import DenseSoftmax

__all__ = ["NeedClassifier", "NeedPrediction"]


@dataclass(frozen=True)
class NeedPrediction:
    """The predicted need, its probability, the 3 likeliest needs and the terms behind it."""

    label: str | None
    confidence: float
    top3: list[tuple[str, float]] = field(default_factory=list)
    terms: list[tuple[str, float]] = field(default_factory=list)


class NeedClassifier(BaseOnlineModel[Example, NeedPrediction]):
    """Online need (intent) classifier whose classes are the labels seen so far.

    Parameters
    ----------
    learning_rate
        SGD step of the softmax regression (for a class of average frequency).
    l2
        L2 penalty on the active weights.
    n_terms
        How many terms :class:`NeedPrediction` and :meth:`explain_one` report.
    balance
        Class balancing: an example of need ``y`` is learned with the step
        ``learning_rate * (n / (k * n_y)) ** balance`` (``n`` examples learned, ``k``
        needs, ``n_y`` of them ``y``, counting this one); 0 learns every example alike.
    """

    name = "need"
    #: (a class attribute too, for models pickled before it existed)
    balance: float = 0.5

    def __init__(
        self, learning_rate: float = 1.0, l2: float = 0.0, n_terms: int = 5, balance: float = 0.5
    ) -> None:
        super().__init__()
        self.learning_rate = learning_rate
        self.l2 = l2
        self.n_terms = n_terms
        self.balance = balance
        self.tfidf = OnlineTfidf()
        self.classifier = DenseSoftmax(learning_rate, l2)
        self._counts: dict[str, int] = {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if isinstance(self.classifier, linear_model.SoftmaxRegression):
            # A snapshot from before the dense layout: the same weights, laid out anew.
            self.classifier = DenseSoftmax.from_river(self.classifier, self.learning_rate)

    @property
    def classes(self) -> list[str]:
        """The needs learned so far, in order of first appearance."""
        return list(self._counts)

    @property
    def class_counts(self) -> dict[str, int]:
        """How many examples of each need were learned."""
        return dict(self._counts)

    def features(self, x: Example) -> dict[str, float]:
        """The TF-IDF vector the classifier sees for ``x``."""
        return self.tfidf.transform(x.tokens)

    def predict_proba_one(self, x: Example) -> dict[str, float]:
        """Probability of each need seen so far (empty before any learning)."""
        if not self._counts:
            return {}
        proba = dict(self.classifier.predict_proba_one(self.features(x)))
        return {label: float(proba.get(label, 0.0)) for label in self._counts}

    def predict_one(self, x: Example) -> NeedPrediction:
        if not self._counts:
            return NeedPrediction(None, 0.0)
        features = self.features(x)
        proba = dict(self.classifier.predict_proba_one(features))
        ranked = sorted(proba.items(), key=lambda kv: kv[1], reverse=True)
        if not ranked:
            return NeedPrediction(None, 0.0)
        label, confidence = ranked[0]
        top3 = [(str(c), round(float(p), 4)) for c, p in ranked[:3]]
        terms = self._terms(features, label)
        return NeedPrediction(str(label), float(confidence), top3, terms)

    def _terms(self, features: dict[str, float], label: Any) -> list[tuple[str, float]]:
        weights = self.classifier.class_weights(label, features)
        contributions = [(t, v * w) for (t, v), w in zip(features.items(), weights, strict=True)]
        return top_terms(contributions, self.n_terms)

    def _learn_one(self, x: Example, y: Any) -> None:
        if y is None or (isinstance(y, str) and not y.strip()):
            raise ValueError("a need label must be a non-empty string")
        label = str(y).strip()
        self._counts[label] = self._counts.get(label, 0) + 1
        self._set_rate(self._rate(label))
        vocabulary = len(self.tfidf.df)
        self.tfidf.learn(x.tokens)
        self.classifier.learn_one(self.features(x), label)
        if len(self.tfidf.df) < vocabulary:  # it forgot its rarest terms: so do the weights
            self.classifier.keep(self.tfidf.df)

    def _rate(self, label: str) -> float:
        """The SGD step for an example of ``label`` (counted already): see ``balance``."""
        return balanced_rate(self.learning_rate, self.balance, self._counts, label)

    def _set_rate(self, rate: float) -> None:
        """The softmax's SGD step for the next example."""
        self.classifier.learning_rate = rate

    def explain_one(self, x: Example) -> dict[str, float]:
        """Terms that pushed towards the predicted need: weight x tf-idf."""
        prediction = self.predict_one(x)
        return dict(prediction.terms)
