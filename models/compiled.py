"""Scoring a whole batch at once: a :class:`~models.bundle.ModelBundle` compiled to arrays.

:meth:`ModelBundle.score` scores one record with River's dict arithmetic (a dict dot
product per class, per model). A worker scores batches with one bundle version, so
:class:`CompiledScorer` copies what scoring reads out of the bundle once, into numpy
arrays, and scores the batch with a few array operations:

- one sparse term-count matrix for the batch (rows: examples, columns: the batch's
  terms, each row's entries in first-seen token order);
- per :class:`~models.features.OnlineTfidf` (need, satisfaction and keywords each keep
  their own), the idf of every known term; unknown terms get the idf of df 0;
- per River :class:`~river.linear_model.SoftmaxRegression`, a term x class weight
  matrix with its classes in River's order (the order of its ``weights`` dict), so a
  sparse product gives every example's logits for every class at once;
- the satisfaction model's naive Bayes as one more term x class matrix (each known term's
  log-probability share, unknown terms 0) and a log prior per class, applied to the
  batch's term presence and added, weighted (one weight for text with Han characters,
  one for other text), to the sentiment's logits; texts with Han characters read their
  character n-grams too, and texts with negations or punctuation cues those cues
  (:func:`models.satisfaction.satisfaction_terms`): they make a second batch of their
  own for the sentiment, their entries of the first extended by those terms
  (``_Batch.extended``: the tokens are not gone through again);
- the urgency model's rules and learned weights.

It gives the answers :meth:`ModelBundle.score` gives, to the last bit in the common
case: the sums run in the order River's run in (a row's entries in first-seen order,
classes in River's order; ``np.bincount`` and scipy's CSR product both accumulate
sequentially), orderings are stable sorts, and rounding is Python's ``round``
(:func:`round4`). Two things can differ in the last bit (1e-16): ``np.exp`` against
``math.exp``, and the logit of a class whose River weights hold fewer terms than the
text (River then sums in the weights' order). The reference stays
:meth:`ModelBundle.score`; tests/unit/test_compiled_scoring.py holds them equal.

The scorer never changes and never refers back to the bundle: compile again for a new
bundle (:class:`streams.model_sync.LiveModel` does, on every swap).

>>> from models.bundle import ModelBundle
>>> from models.features import Example
>>> bundle = ModelBundle()
>>> for i in range(30):
...     _ = bundle.learn({"type": "communication", "record": {
...         "event_id": f"e{i}", "text": "I want my money back" if i % 2 else "parcel not arrived",
...         "direction": "inbound", "need": "refund" if i % 2 else "delivery"}})
>>> scorer = CompiledScorer.from_bundle(bundle)
>>> texts = ["give my money back please", "my parcel has not arrived", ""]
>>> [s.need.label for s in scorer.score_many([Example(t) for t in texts])]  # "": a tie
['refund', 'delivery', 'delivery']
>>> scorer.score_many([Example(t) for t in texts]) == [bundle.score({"text": t}) for t in texts]
True
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from models.bundle import ModelBundle, Scores
from models.features import Example, OnlineTfidf
from models.keywords import is_keyword_candidate
from models.need import NeedPrediction
from models.satisfaction import (
    GRAM_MARK,
    SatisfactionModel,
    SatisfactionPrediction,
    Sentiment,
    extra_terms,
    parse_sentiment,
    sentiment_of_score,
)
from models.softmax import DenseSoftmax
from models.tokenize import han_grams
from models.urgency import (
    CUTS,
    LEVELS,
    PRIOR_BASE,
    PRIOR_WEIGHTS,
    URGENT_PHRASES_EN,
    URGENT_PHRASES_ZH,
    URGENT_WORDS_EN,
    Level,
    UrgencyModel,
    UrgencyPrediction,
)

__all__ = [
    "BatchScores",
    "CompiledScorer",
    "Ranked",
    "round4",
    "urgent_hit_count",
    "urgent_phrase_count",
    "urgent_phrase_counts",
]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]
Bools = npt.NDArray[np.bool_]

# The urgency factors, in the order UrgencyModel.factors gives them.
_FACTORS = ("wording", "wait", "need", "dissatisfaction", "tier")
# The indicator features of the learned part, in the order UrgencyModel._features adds them.
_INDICATORS = ("need", "tier", "channel")
_SPACES = re.compile(r"\s+")
# Every urgent phrase holds one of these pieces, which hold no space: a text (lower
# case) holding no piece holds no phrase, whatever its spacing.
_PHRASE_PIECES_EN = ("right", "away", "soon", "without", "sensitive", "wait")
_PHRASE_PIECES = (*_PHRASE_PIECES_EN, "急", "马上", "立", "尽快", "赶", "火速", "刻")
assert all(
    any(piece in phrase for piece in _PHRASE_PIECES_EN) for phrase in URGENT_PHRASES_EN
) and all(any(piece in phrase for piece in _PHRASE_PIECES) for phrase in URGENT_PHRASES_ZH)
# UrgencyModel.urgent_hits' order for Chinese phrases: longest first, a phrase inside a
# longer one found already does not count again.
_ZH_LONGEST_FIRST = tuple(sorted(URGENT_PHRASES_ZH, key=len, reverse=True))


def round4(values: Floats) -> list[float]:
    """``[round(v, 4) for v in values]``, vectorized.

    ``rint(v * 1e4) / 1e4`` is Python's correctly rounded result unless ``v * 1e4``
    lies within 1e-6 of a half (the product's own rounding, under 1e-7 below 1e9, could
    then pick the other side): those values, and larger or non-finite ones, go through
    ``round``.

    >>> round4(np.array([0.123449999, 0.00005, 2.675, -1.00015, 1 / 3]))
    [0.1234, 0.0001, 2.675, -1.0002, 0.3333]
    >>> [round(v, 4) for v in (0.123449999, 0.00005, 2.675, -1.00015, 1 / 3)]
    [0.1234, 0.0001, 2.675, -1.0002, 0.3333]
    """
    scaled = values * 1e4
    out: list[float] = (np.rint(scaled) / 1e4).tolist()
    with np.errstate(invalid="ignore"):
        unsure = ~(np.abs(scaled - np.floor(scaled) - 0.5) > 1e-6) | ~(np.abs(scaled) < 1e9)
    for i in np.flatnonzero(unsure).tolist():
        out[i] = round(float(values[i]), 4)
    return out


def urgent_phrase_count(text: str) -> int:
    """How many of ``UrgencyModel.urgent_hits`` are phrases (English, then Chinese).

    >>> urgent_phrase_count("Please call me right   now, 马上!"), urgent_phrase_count("Hi")
    (2, 0)
    """
    text = _SPACES.sub(" ", text.lower())
    hits = sum(1 for p in URGENT_PHRASES_EN if p in text)
    covered: list[str] = []
    for phrase in _ZH_LONGEST_FIRST:
        if phrase in text and not any(phrase in longer for longer in covered):
            covered.append(phrase)
    return hits + len(covered)


def urgent_phrase_counts(texts: Sequence[str]) -> list[int]:
    """:func:`urgent_phrase_count` of each text, searching only the texts that hold a
    piece of some phrase (most hold none).

    >>> urgent_phrase_counts(["right   now!", "hello", "I can't wait, 马上", "İ urgent"])
    [1, 0, 2, 0]
    """
    counts = [0] * len(texts)
    ascii_texts = [i for i, t in enumerate(texts) if t.isascii()]
    other_texts = [i for i, t in enumerate(texts) if not t.isascii()]
    # Texts of one kind are searched together (a search over ASCII text is fastest).
    for group, pieces in ((ascii_texts, _PHRASE_PIECES_EN), (other_texts, _PHRASE_PIECES)):
        joined = "\n".join(texts[i] for i in group)
        lowered = joined.lower()
        if len(lowered) != len(joined):  # a letter whose lower case is longer (İ)
            holding: Iterable[int] = range(len(group))
        else:
            starts = list(itertools.accumulate((len(texts[i]) + 1 for i in group), initial=0))
            holding = set()
            for piece in pieces:
                at = lowered.find(piece)
                while at != -1:
                    holding.add(bisect.bisect_right(starts, at) - 1)
                    at = lowered.find(piece, at + len(piece))
        for k in holding:
            counts[group[k]] = urgent_phrase_count(texts[group[k]])
    return counts


def urgent_hit_count(x: Example) -> int:
    """``len(UrgencyModel.urgent_hits(x))``: urgent words among the tokens, and phrases.

    >>> urgent_hit_count(Example("URGENT, please call me right   now, 马上!"))
    3
    """
    return sum(1 for t in x.tokens if t in URGENT_WORDS_EN) + urgent_phrase_counts([x.text])[0]


# -- the batch --------------------------------------------------------------------------


@dataclass(frozen=True)
class Ranked:
    """Per example, a few terms with their values, highest first (flat, cut by bounds)."""

    terms: list[str]
    values: Floats
    bounds: list[int]  # example i's terms are terms[bounds[i]:bounds[i + 1]]

    def names(self) -> list[list[str]]:
        """The terms of each example."""
        return [self.terms[a:b] for a, b in itertools.pairwise(self.bounds)]

    def pairs(self) -> list[list[tuple[str, float]]]:
        """``(term, round(value, 4))`` for each example, as the models report them."""
        values = round4(self.values)
        return [
            list(zip(self.terms[a:b], values[a:b], strict=True))
            for a, b in itertools.pairwise(self.bounds)
        ]


@dataclass(frozen=True)
class _Batch:
    """The batch's bag of words: one entry per (example, distinct term), in first-seen order."""

    size: int
    terms: npt.NDArray[np.object_]  # the batch's vocabulary
    ids: Ints  # per batch term: its id in the scorer's vocabulary (unknown: the last id)
    indptr: Ints  # CSR row pointers: example i's entries are indptr[i]:indptr[i+1]
    rows: Ints  # per entry: its example
    cols: Ints  # per entry: its batch term
    counts: Floats  # per entry: how often the term occurs in the example
    lengths: Floats  # per example: number of tokens

    @classmethod
    def of(cls, examples: Sequence[Example], index: Mapping[str, int]) -> _Batch:
        """The batch of the examples' tokens."""
        return cls.of_terms([x.tokens for x in examples], index)

    @classmethod
    def of_terms(cls, tokens: Sequence[Sequence[str]], index: Mapping[str, int]) -> _Batch:
        """The batch of each example's terms (``tokens[i]``, example i's, in order)."""
        flat = list(itertools.chain.from_iterable(tokens))
        vocabulary = dict(zip(dict.fromkeys(flat), itertools.count()))
        size, width = len(tokens), max(1, len(vocabulary))
        lengths = np.array([len(t) for t in tokens], dtype=np.intp)
        example = np.repeat(np.arange(size, dtype=np.intp), lengths)
        term = np.fromiter(map(vocabulary.__getitem__, flat), dtype=np.intp, count=len(flat))
        keys = example * width + term
        # One entry per (example, distinct term), in order of first occurrence: within
        # an example, first-seen order (models.features.term_counts' order).
        entries, first, counts = np.unique(keys, return_index=True, return_counts=True)
        order = np.argsort(first, kind="stable")
        rows, cols = np.divmod(entries[order], width)
        terms = np.empty(len(vocabulary), dtype=object)
        terms[:] = list(vocabulary)
        unknown = len(index)
        return cls(
            size=size,
            terms=terms,
            ids=np.array([index.get(t, unknown) for t in vocabulary], dtype=np.intp),
            indptr=np.searchsorted(rows, np.arange(size + 1)),
            rows=rows,
            cols=cols,
            counts=counts[order].astype(np.float64),
            lengths=lengths.astype(np.float64),
        )

    def extended(
        self, examples: Sequence[int], extra: Sequence[Sequence[str]], index: Mapping[str, int]
    ) -> _Batch:
        """The batch of this batch's ``examples`` (in that order), each holding its own
        terms then ``extra[k]`` (terms none of this batch holds): what
        :meth:`of_terms` gives for ``terms + extra[k]``, entries in the same order,
        without going through the terms again.

        >>> index = {"late": 0, "#!": 1}
        >>> base = _Batch.of_terms([["late", "bag"], ["ok"], ["late", "late"]], index)
        >>> both = base.extended([2, 0], [["#!", "#?", "#!"], []], index)
        >>> direct = _Batch.of_terms([["late", "late", "#!", "#?", "#!"], ["late", "bag"]], index)
        >>> both.terms[both.cols].tolist() == direct.terms[direct.cols].tolist()
        True
        >>> (both.counts.tolist(), both.lengths.tolist(), both.indptr.tolist())
        ([2.0, 2.0, 1.0, 1.0, 1.0], [5.0, 2.0], [0, 3, 5])
        >>> both.ids[both.cols].tolist() == direct.ids[direct.cols].tolist()
        True
        """
        more = _Batch.of_terms(extra, index)
        chosen = np.asarray(examples, dtype=np.intp)
        starts = self.indptr[chosen]
        own = self.indptr[chosen + 1] - starts  # entries per example, its own and extra
        added = np.diff(more.indptr)
        size = len(chosen)
        indptr = np.zeros(size + 1, dtype=np.intp)
        np.cumsum(own + added, out=indptr[1:])
        rows = np.repeat(np.arange(size, dtype=np.intp), own + added)
        place = np.arange(len(rows), dtype=np.intp) - indptr[rows]  # within its example
        # Each entry's source: its own entry in this batch, then the extra entry in more's
        # (numbered after this batch's entries).
        source = np.where(
            place < own[rows],
            starts[rows] + place,
            len(self.rows) + more.indptr[rows] + place - own[rows],
        )
        width = len(self.terms)
        return _Batch(
            size=size,
            terms=np.concatenate([self.terms, more.terms]),
            ids=np.concatenate([self.ids, more.ids]),
            indptr=indptr,
            rows=rows,
            cols=np.concatenate([self.cols, more.cols + width])[source],
            counts=np.concatenate([self.counts, more.counts])[source],
            lengths=self.lengths[chosen] + more.lengths,
        )

    def row_sums(self, values: Floats) -> Floats:
        """Per example, the sum of its entries' values, added in entry order as Python's sum."""
        return np.bincount(self.rows, weights=values, minlength=self.size).astype(
            np.float64, copy=False
        )

    def tfidf(self, idf: Floats) -> Floats:
        """Per entry, :meth:`OnlineTfidf.transform`'s L2-normalized weight."""
        weights = self.counts / self.lengths[self.rows] * idf[self.ids[self.cols]]
        norms = np.sqrt(self.row_sums(weights * weights))
        return weights / norms[self.rows]

    def matrix(self, values: Floats) -> sparse.csr_array:
        """The examples x batch terms matrix of per-entry values (entries kept in order)."""
        return sparse.csr_array(
            (values, self.cols, self.indptr), shape=(self.size, len(self.terms))
        )

    def top(self, values: Floats, keep: Bools, n: int) -> Ranked:
        """Per example, its ``n`` kept entries of highest value, ties in first-seen order
        (the slow path's stable sort, then cut)."""
        # One row per example, its entries in first-seen order; a stable sort of each row
        # keeps ties in that order. Entries not kept sort last, as +inf.
        place = np.arange(len(self.rows)) - self.indptr[self.rows]
        table = np.full((self.size, int(place.max(initial=0)) + 1), np.inf)
        table[self.rows[keep], place[keep]] = -values[keep]
        best = np.argsort(table, axis=1, kind="stable")[:, :n]
        found = np.take_along_axis(table, best, axis=1) < np.inf
        entries = (self.indptr[:-1, None] + best)[found]  # by example, then rank
        bounds = np.zeros(self.size + 1, dtype=np.intp)
        np.cumsum(found.sum(axis=1), out=bounds[1:])
        return Ranked(self.terms[self.cols[entries]].tolist(), values[entries], bounds.tolist())


# -- compiled models ----------------------------------------------------------------------


def _softmax_terms(model: Any) -> Iterable[str]:
    """The terms a softmax regression has weights for (a River one's per class, in order)."""
    if isinstance(model, DenseSoftmax):
        return model.terms
    return itertools.chain(*model.weights.values())


def _idf(tfidf: OnlineTfidf, terms: Sequence[str]) -> Floats:
    """``tfidf.idf`` of each term, and last of df 0 (terms it never saw)."""
    df = tfidf.df
    dfs = np.fromiter(
        itertools.chain(map(df.get, terms, itertools.repeat(0)), [0]), np.int64, len(terms) + 1
    )
    distinct, position = np.unique(dfs, return_inverse=True)
    # math.log as OnlineTfidf.idf, once per distinct document frequency (np.log may
    # differ from it in the last bit).
    table = [math.log((1 + tfidf.n) / (1 + int(d))) + 1.0 for d in distinct]
    idf: Floats = np.array(table, dtype=np.float64)[position]
    return idf


@dataclass(frozen=True)
class _Softmax:
    """A River SoftmaxRegression's weights as a (terms + 1) x classes matrix."""

    labels: tuple[Any, ...]  # River's class order (its weights dict's)
    rows: Ints  # per scorer term id (and the unknown id last): its row of ``weights``
    weights: Floats  # last row all zeros: terms the model has no weight for

    @classmethod
    def of(cls, model: Any, index: Mapping[str, int]) -> _Softmax:
        if isinstance(model, DenseSoftmax):
            return cls._of_dense(model, index)
        per_class: Mapping[Any, Mapping[str, float]] = model.weights
        labels = tuple(per_class)
        # (map and fromiter: compiled once per snapshot, over every weight of every class)
        local = dict(zip(dict.fromkeys(itertools.chain(*per_class.values())), itertools.count()))
        matrix = np.zeros((len(local) + 1, len(labels)), dtype=np.float64)
        for k, weights in enumerate(per_class.values()):
            at = np.fromiter(map(local.__getitem__, weights), dtype=np.intp, count=len(weights))
            matrix[at, k] = np.fromiter(weights.values(), dtype=np.float64, count=len(weights))
        rows = np.full(len(index) + 1, len(local), dtype=np.intp)
        rows[np.fromiter(map(index.__getitem__, local), dtype=np.intp, count=len(local))] = (
            np.arange(len(local), dtype=np.intp)
        )
        return cls(labels, rows, matrix)

    @classmethod
    def _of_dense(cls, model: DenseSoftmax, index: Mapping[str, int]) -> _Softmax:
        matrix = np.zeros((len(model.terms) + 1, len(model.labels)), dtype=np.float64)
        matrix[:-1] = model.matrix()
        rows = np.full(len(index) + 1, len(model.terms), dtype=np.intp)
        at = np.fromiter(map(index.__getitem__, model.terms), np.intp, len(model.terms))
        rows[at] = np.arange(len(model.terms), dtype=np.intp)
        return cls(tuple(model.labels), rows, matrix)

    def batch_weights(self, batch: _Batch) -> Floats:
        """The weights of the batch's terms (batch terms x classes)."""
        weights: Floats = self.weights[self.rows[batch.ids]]
        return weights

    def proba(self, x: sparse.csr_array, weights: Floats) -> Floats:
        """River's ``predict_proba_one`` for every example (examples x classes)."""
        logits: Floats = np.asarray(x @ weights, dtype=np.float64)
        if not self.labels:
            return logits
        exps = np.exp(logits - logits.max(axis=1, keepdims=True))
        total = exps[:, 0].copy()
        for k in range(1, len(self.labels)):  # classes in order, as River's loop adds them
            total += exps[:, k]
        proba: Floats = exps / total[:, None]
        return proba


def _contributions(batch: _Batch, x: Floats, weights: Floats, classes: Ints) -> Floats:
    """Per entry, its tf-idf x the weight of its example's class (class -1: 0)."""
    padded = np.concatenate([weights, np.zeros((weights.shape[0], 1))], axis=1)
    contributions: Floats = x * padded[batch.cols, classes[batch.rows]]
    return contributions


@dataclass(frozen=True)
class _NaiveBayes:
    """The satisfaction model's naive Bayes log joint, weighted, as a matrix over the
    terms (``models.satisfaction.OnlineNaiveBayes.log_joint`` times ``nb_weight``)."""

    weight: float  # nb_weight: text without Han
    weight_han: float  # nb_weight_han: text with Han
    rows: Ints  # per scorer term id (and the unknown id last): its row of ``weights``
    weights: Floats  # (NB terms + 1) x the softmax's classes; last row zeros (unknown)
    prior: Floats  # per class: its log prior

    @classmethod
    def of(
        cls, model: SatisfactionModel, labels: Sequence[Any], index: Mapping[str, int]
    ) -> _NaiveBayes | None:
        """None where the model adds no naive Bayes (no weight, or a class it never saw)."""
        nb = model.naive_bayes
        no_weight = not (model.nb_weight or model.nb_weight_han)
        if no_weight or not labels or any(c not in nb.documents for c in labels):
            return None
        terms = list(nb.counts)
        matrix = np.zeros((len(terms) + 1, len(labels)), dtype=np.float64)
        for k, label in enumerate(labels):
            counts = np.fromiter(
                (per_class.get(label, 0) for per_class in nb.counts.values()), np.int64, len(terms)
            )
            distinct, position = np.unique(counts, return_inverse=True)
            # OnlineNaiveBayes.term_weight (math.log), once per distinct count.
            denominator = nb.log_denominator(label)
            table = [nb.term_weight(int(d), denominator) for d in distinct]
            matrix[: len(terms), k] = np.array(table, dtype=np.float64)[position]
        rows = np.full(len(index) + 1, len(terms), dtype=np.intp)
        rows[np.fromiter(map(index.__getitem__, terms), dtype=np.intp, count=len(terms))] = (
            np.arange(len(terms), dtype=np.intp)
        )
        prior = np.array([nb.log_prior(label) for label in labels], dtype=np.float64)
        return cls(model.nb_weight, model.nb_weight_han, rows, matrix, prior)

    def logits(self, batch: _Batch, logits: Floats, han: Bools) -> Floats:
        """``logits`` plus the weighted log joint of each example's distinct terms (the
        weight of text with Han where ``han``)."""
        present = batch.matrix(np.ones(len(batch.rows), dtype=np.float64))
        joint = np.asarray(present @ self.weights[self.rows[batch.ids]], dtype=np.float64)
        weight = np.where(han, self.weight_han, self.weight)[:, None]
        combined: Floats = logits + weight * (self.prior + joint)
        return combined


@dataclass(frozen=True)
class _Urgency:
    """The urgency model's rules, learned share and learned weights (models.urgency)."""

    need_weights: dict[str, float]
    unknown_need: float
    tier_weights: dict[str, float]
    expected_wait: dict[str, float]
    default_expected_wait: float
    share: float
    weights: dict[str, float]  # the regressor's (a copy)
    intercept: float

    @classmethod
    def of(cls, model: UrgencyModel) -> _Urgency:
        return cls(
            need_weights=dict(model.need_weights),
            unknown_need=model.unknown_need,
            tier_weights=dict(model.tier_weights),
            expected_wait=dict(model.expected_wait),
            default_expected_wait=model.default_expected_wait,
            share=model.learned_share,
            weights=dict(model.regressor.weights),
            intercept=float(model.regressor.intercept),
        )

    def contributions(
        self,
        batch: _Batch,
        examples: Sequence[Example],
        needs: Sequence[str | None],
        satisfaction: Floats,
    ) -> Floats:
        """``UrgencyModel._contributions`` for each example (examples x :meth:`names`)."""
        urgent = np.array([t in URGENT_WORDS_EN for t in batch.terms.tolist()], dtype=np.bool_)
        words = batch.row_sums(np.where(urgent[batch.cols], batch.counts, 0.0))
        hits = words + np.array(urgent_phrase_counts([x.text for x in examples]), dtype=np.float64)
        wait = np.array([x.wait_seconds or 0.0 for x in examples], dtype=np.float64)
        channels = [x.channel for x in examples]
        tiers = [x.customer_tier for x in examples]
        expected = self.expected_wait
        unknown = self.unknown_need
        factors = np.column_stack(
            [
                np.where(hits > 0, np.minimum(1.0, 0.6 + 0.2 * (hits - 1)), 0.0),
                np.minimum(
                    1.0,
                    np.maximum(
                        0.0,
                        wait
                        / (
                            3.0
                            * np.array(
                                [
                                    expected.get(c or "", self.default_expected_wait)
                                    for c in channels
                                ]
                            )
                        ),
                    ),
                ),
                [self.need_weights.get(n, unknown) if n else unknown for n in needs],
                1.0 - np.minimum(1.0, np.maximum(0.0, satisfaction)),
                [self.tier_weights.get(t or "", 0.0) for t in tiers],
            ]
        ).astype(np.float64)
        size = len(examples)
        prior = np.column_stack(
            [np.full(size, PRIOR_BASE)]
            + [PRIOR_WEIGHTS[name] * factors[:, i] for i, name in enumerate(_FACTORS)]
        )
        if self.share == 0.0:
            return prior
        # The learned part: the intercept, then weight x feature for the factors and for
        # three indicator features (value 1).
        learned = np.column_stack(
            [np.full(size, self.intercept)]
            + [self.weights.get(name, 0.0) * factors[:, i] for i, name in enumerate(_FACTORS)]
            + [
                self._indicator(prefix, values)
                for prefix, values in zip(_INDICATORS, (needs, tiers, channels), strict=True)
            ]
        )
        prior = np.concatenate([prior, np.zeros((size, len(_INDICATORS)))], axis=1)
        blended: Floats = (1.0 - self.share) * prior + self.share * learned
        return blended

    def _indicator(self, prefix: str, values: Sequence[str | None]) -> Floats:
        """The learned weight of the indicator feature ``prefix=value`` of each example."""
        weight = {v: self.weights.get(f"{prefix}={v or '?'}", 0.0) for v in set(values)}
        return np.array([weight[v] for v in values], dtype=np.float64)

    def names(self, examples: Sequence[Example], needs: Sequence[str | None]) -> list[list[str]]:
        """The names of each example's contributions (UrgencyModel.explain_one's keys)."""
        names = ["base", *_FACTORS]
        if self.share == 0.0:
            return [names] * len(examples)
        return [
            [
                *names,
                f"need={n or '?'}",
                f"tier={x.customer_tier or '?'}",
                f"channel={x.channel or '?'}",
            ]
            for x, n in zip(examples, needs, strict=True)
        ]

    @staticmethod
    def scores(contributions: Floats) -> tuple[Floats, list[Level]]:
        """The clipped sum of each example's contributions, and its level."""
        score = contributions[:, 0].copy()
        for k in range(1, contributions.shape[1]):  # in order, as Python's sum adds them
            score += contributions[:, k]
        score = np.minimum(1.0, np.maximum(0.0, score))
        levels = np.full(len(score), len(CUTS), dtype=np.intp)  # LEVELS[-1] below every cut
        for i, cut in reversed(list(enumerate(CUTS))):  # models.urgency.level_of
            levels[score >= cut] = i
        return score, [LEVELS[i] for i in levels.tolist()]


# -- the scorer -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchScores:
    """What the models say about a batch, one field per attribute, in example order.

    The same values as :class:`models.bundle.Scores`: probabilities, satisfaction and
    urgency unrounded, top 3 and terms rounded as the models report them. The details
    (``satisfaction_terms``, ``urgency_factors``) are None unless asked for.
    """

    need: list[str | None]
    need_confidence: Floats
    need_top3: list[list[tuple[str, float]]]
    need_terms: Ranked | None  # None while the need model has no class
    satisfaction: Floats
    sentiment: list[Sentiment]
    urgency: Floats
    urgency_level: list[Level]
    keywords: list[list[str]]
    versions: Mapping[str, int]
    satisfaction_terms: list[list[tuple[str, float]]] | None = None
    urgency_factors: list[dict[str, float]] | None = None

    def need_term_names(self) -> list[list[str]]:
        """The terms behind each example's need (no values)."""
        return self.need_terms.names() if self.need_terms else [[] for _ in self.need]


@dataclass(frozen=True)
class CompiledScorer:
    """A bundle's scoring, compiled for batches: :meth:`score_many` gives what
    :meth:`ModelBundle.score` gives for each example. Build with :meth:`from_bundle`."""

    index: Mapping[str, int]  # every term any scoring model knows -> its id
    versions: Mapping[str, int]
    need: _Softmax | None  # None while the need model has no class
    need_idf: Floats
    need_terms: int
    satisfaction_trained: bool
    sentiment: _Softmax
    naive_bayes: _NaiveBayes | None  # added to the sentiment's logits (None: nothing)
    cues: bool  # whether the sentiment reads cue terms (SatisfactionModel.cues)
    sentiments: tuple[Sentiment | None, ...]  # per sentiment class, its parsed sentiment
    levels: _Softmax
    level_values: Floats  # per level class, the score it stands for
    satisfaction_idf: Floats
    satisfaction_terms: int
    keyword_idf: Floats
    keyword_candidates: Bools  # per term id: may it be a keyword (the unknown id: False)
    keywords: int
    urgency: _Urgency

    @classmethod
    def from_bundle(cls, bundle: ModelBundle) -> CompiledScorer:
        """Copy what scoring reads out of ``bundle`` (which is left untouched)."""
        need, satisfaction = bundle.need, bundle.satisfaction
        tfidfs = (need.tfidf, satisfaction.tfidf, bundle.keywords.tfidf)
        softmaxes = (need.classifier, satisfaction.sentiment, satisfaction.levels)
        terms = list(
            dict.fromkeys(
                itertools.chain(
                    *(tfidf.df for tfidf in tfidfs),
                    *(_softmax_terms(model) for model in softmaxes),
                    satisfaction.naive_bayes.counts,
                )
            )
        )
        index = dict(zip(terms, itertools.count()))
        levels = _Softmax.of(satisfaction.levels, index)
        sentiment = _Softmax.of(satisfaction.sentiment, index)
        return cls(
            index=index,
            versions=dict(bundle.versions),
            need=_Softmax.of(need.classifier, index) if need.class_counts else None,
            need_idf=_idf(need.tfidf, terms),
            need_terms=need.n_terms,
            satisfaction_trained=bool(satisfaction.version),
            sentiment=sentiment,
            naive_bayes=_NaiveBayes.of(satisfaction, sentiment.labels, index),
            cues=satisfaction.cues,
            sentiments=tuple(parse_sentiment(str(label)) for label in sentiment.labels),
            levels=levels,
            level_values=np.array(
                [float(level) / (satisfaction.n_levels - 1) for level in levels.labels],
                dtype=np.float64,
            ),
            satisfaction_idf=_idf(satisfaction.tfidf, terms),
            satisfaction_terms=satisfaction.n_terms,
            keyword_idf=_idf(bundle.keywords.tfidf, terms),
            keyword_candidates=np.fromiter(
                itertools.chain(map(is_keyword_candidate, terms), [False]), np.bool_, len(terms) + 1
            ),
            keywords=bundle.keywords.k,
            urgency=_Urgency.of(bundle.urgency),
        )

    def score_many(self, examples: Sequence[Example]) -> list[Scores]:
        """What :meth:`ModelBundle.score` says about each example, in order."""
        batch = self.score_columns(examples, details=True)
        need_terms = batch.need_terms.pairs() if batch.need_terms else None
        assert batch.satisfaction_terms is not None and batch.urgency_factors is not None
        return [
            Scores(
                NeedPrediction(label, confidence, top3, need_terms[i] if need_terms else [])
                if label is not None
                else NeedPrediction(None, 0.0),
                SatisfactionPrediction(satisfaction, sentiment, satisfaction_terms),
                UrgencyPrediction(urgency, level, factors),
                keywords,
                dict(batch.versions),
            )
            for i, (
                label,
                confidence,
                top3,
                satisfaction,
                sentiment,
                satisfaction_terms,
                urgency,
                level,
                factors,
                keywords,
            ) in enumerate(
                zip(
                    batch.need,
                    batch.need_confidence.tolist(),
                    batch.need_top3,
                    batch.satisfaction.tolist(),
                    batch.sentiment,
                    batch.satisfaction_terms,
                    batch.urgency.tolist(),
                    batch.urgency_level,
                    batch.urgency_factors,
                    batch.keywords,
                    strict=True,
                )
            )
        ]

    def score_columns(self, examples: Sequence[Example], *, details: bool = False) -> BatchScores:
        """What the models say about each example, field by field (see :class:`BatchScores`);
        ``details`` adds the satisfaction terms and the urgency factors."""
        batch = _Batch.of(examples, self.index)
        need, confidence, top3, need_terms = self._need(batch)
        satisfaction, sentiment, satisfaction_terms = self._satisfaction(batch, examples, details)
        contributions = self.urgency.contributions(batch, examples, need, satisfaction)
        urgency, level = self.urgency.scores(contributions)
        factors = None
        if details:
            names = self.urgency.names(examples, need)
            factors = [
                dict(zip(n, row, strict=True))
                for n, row in zip(names, contributions.tolist(), strict=True)
            ]
        return BatchScores(
            need=need,
            need_confidence=confidence,
            need_top3=top3,
            need_terms=need_terms,
            satisfaction=satisfaction,
            sentiment=sentiment,
            urgency=urgency,
            urgency_level=level,
            keywords=self._keywords(batch),
            versions=self.versions,
            satisfaction_terms=satisfaction_terms,
            urgency_factors=factors,
        )

    def _need(
        self, batch: _Batch
    ) -> tuple[list[str | None], Floats, list[list[tuple[str, float]]], Ranked | None]:
        model = self.need
        if model is None or not model.labels:
            return [None] * batch.size, np.zeros(batch.size), [[] for _ in range(batch.size)], None
        x = batch.tfidf(self.need_idf)
        weights = model.batch_weights(batch)
        proba = model.proba(batch.matrix(x), weights)
        # Highest first, ties in River's class order (the slow path's stable sort).
        ranked = np.argsort(-proba, axis=1, kind="stable")[:, :3]
        top = np.take_along_axis(proba, ranked, axis=1)
        labels = np.array([str(label) for label in model.labels], dtype=object)
        names: list[list[str]] = labels[ranked].tolist()
        rounded = round4(top.ravel())
        width = ranked.shape[1]
        top3 = [
            list(zip(row, rounded[i * width : (i + 1) * width], strict=True))
            for i, row in enumerate(names)
        ]
        contributions = _contributions(batch, x, weights, ranked[:, 0])
        terms = batch.top(contributions, contributions > 0, self.need_terms)
        return [row[0] for row in names], top[:, 0].copy(), top3, terms

    def _satisfaction(
        self, batch: _Batch, examples: Sequence[Example], details: bool
    ) -> tuple[Floats, list[Sentiment], list[list[tuple[str, float]]] | None]:
        if not self.satisfaction_trained:
            neutral: list[Sentiment] = ["neutral"] * batch.size
            terms: list[list[tuple[str, float]]] | None = None
            if details:
                terms = [[] for _ in range(batch.size)]
            return np.full(batch.size, 0.5), neutral, terms
        # The score model, and the sentiment of a text without Han or cues, read its tokens:
        # the batch.
        x = batch.tfidf(self.satisfaction_idf)
        matrix = batch.matrix(x)
        levels = self.levels.proba(matrix, self.levels.batch_weights(batch))
        score = np.zeros(batch.size, dtype=np.float64)
        for k in range(len(self.levels.labels)):  # levels in River's order, as the slow sum
            score += self.level_values[k] * levels[:, k]
        score = np.minimum(1.0, np.maximum(0.0, score))
        if not self.sentiment.labels:
            sentiments = [sentiment_of_score(s) for s in score.tolist()]
            return score, sentiments, [[] for _ in range(batch.size)] if details else None
        # A text with Han runs reads their n-grams too, and a text with cues its cues:
        # those texts (their terms are not their tokens) make a batch of their own.
        grams = [han_grams(example.text) for example in examples]
        extra = [extra_terms(e, g, cues=self.cues) for e, g in zip(examples, grams, strict=True)]
        own = [i for i, e in enumerate(extra) if e]
        weights = self.sentiment.batch_weights(batch)
        logits = self._sentiment_logits(batch, matrix, weights, np.zeros(batch.size, np.bool_))
        if own:
            own_batch = batch.extended(own, [extra[i] for i in own], self.index)
            own_x = own_batch.tfidf(self.satisfaction_idf)
            own_weights = self.sentiment.batch_weights(own_batch)
            han = np.array([bool(grams[i]) for i in own], dtype=np.bool_)
            logits[own] = self._sentiment_logits(
                own_batch, own_batch.matrix(own_x), own_weights, han
            )
        # The first of the highest logits, as SatisfactionModel.predict_one.
        best = np.argmax(logits, axis=1)
        sentiments = [
            p or sentiment_of_score(s)
            for p, s in zip(
                [self.sentiments[k] for k in best.tolist()], score.tolist(), strict=True
            )
        ]
        if not details:
            return score, sentiments, None
        # The terms are words of the sentiment's class (none if it is no class).
        column = {label: k for k, label in enumerate(self.sentiment.labels)}
        classes = np.array([column.get(s, -1) for s in sentiments], dtype=np.intp)
        contributions = _contributions(batch, x, weights, classes)
        pairs = batch.top(contributions, contributions > 0, self.satisfaction_terms).pairs()
        if own:
            contributions = _contributions(own_batch, own_x, own_weights, classes[own])
            words = np.array([not t.startswith(GRAM_MARK) for t in own_batch.terms.tolist()])
            keep = (contributions > 0) & words[own_batch.cols]
            own_pairs = own_batch.top(contributions, keep, self.satisfaction_terms).pairs()
            for i, found in zip(own, own_pairs, strict=True):
                pairs[i] = found
        return score, sentiments, pairs

    def _sentiment_logits(
        self, batch: _Batch, matrix: sparse.csr_array, weights: Floats, han: Bools
    ) -> Floats:
        """SatisfactionModel.logits for each example: the softmax's, plus the naive Bayes'
        (weighted for text with Han where ``han``)."""
        logits: Floats = np.asarray(matrix @ weights, dtype=np.float64)
        if self.naive_bayes is not None:
            logits = self.naive_bayes.logits(batch, logits, han)
        return logits

    def _keywords(self, batch: _Batch) -> list[list[str]]:
        candidate = self.keyword_candidates[batch.ids]
        for i in np.flatnonzero(batch.ids == len(self.index)).tolist():  # terms new to all
            candidate[i] = is_keyword_candidate(batch.terms[i])
        keep = candidate[batch.cols]
        totals = batch.row_sums(np.where(keep, batch.counts, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):  # no candidate: no keyword
            values = batch.counts / totals[batch.rows] * self.keyword_idf[batch.ids[batch.cols]]
        return batch.top(values, keep, self.keywords).names()
