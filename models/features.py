"""What the models see of a communication: :class:`Example`, and text features.

Texts are tokenized once, by the shared tokenizer (:func:`models.tokenize.tokenize`),
and the tokens are cached on the example, so every model of a record reuses them.

>>> x = Example("Refund my order 12345 ASAP!", language="en", channel="email")
>>> x.tokens
['refund', 'order', '<num>', 'asap']
>>> term_counts(x.tokens)
{'refund': 1.0, 'order': 1.0, '<num>': 1.0, 'asap': 1.0}
>>> x = from_record({"text": "hello", "channel": "chat",
...                  "metadata": {"customer_tier": "gold", "wait_seconds": 90}})
>>> x.channel, x.customer_tier, x.wait_seconds, x.language
('chat', 'gold', 90.0, None)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from models.tokenize import tokenize

__all__ = [
    "Example",
    "OnlineTfidf",
    "from_record",
    "term_counts",
    "with_context",
    "with_tokens",
]


@dataclass(frozen=True)
class Example:
    """One communication as the models see it. ``tokens`` is computed once, on first use."""

    text: str
    language: str | None = None
    channel: str | None = None
    direction: str | None = None
    customer_tier: str | None = None
    wait_seconds: float | None = None
    # Context that other models (or people) give this communication, read by the urgency
    # model: its need, and its satisfaction in [0, 1]. As River passes the whole context
    # in ``x``, so that scoring and learning see the same features.
    need: str | None = None
    satisfaction: float | None = None

    @cached_property
    def tokens(self) -> list[str]:
        """The text's tokens, by the shared tokenizer (cached)."""
        return tokenize(self.text, self.language)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and number not in (float("inf"), float("-inf")) else None


def from_record(record: Mapping[str, Any]) -> Example:
    """Build an :class:`Example` from a communication record (a decoded event).

    Reads ``text``, ``language``, ``channel``, ``direction``, ``metadata.customer_tier`` and
    ``metadata.wait_seconds``; anything missing or malformed becomes ``None``.

    >>> from_record({"text": None, "metadata": {"wait_seconds": "n/a"}}).wait_seconds is None
    True
    """
    metadata = record.get("metadata")
    if not isinstance(metadata, Mapping):
        metadata = {}
    text = record.get("text")
    return Example(
        text="" if text is None else str(text),
        language=_text(record.get("language")),
        channel=_text(record.get("channel")),
        direction=_text(record.get("direction")),
        customer_tier=_text(metadata.get("customer_tier")),
        wait_seconds=_number(metadata.get("wait_seconds")),
    )


def with_context(x: Example, need: str | None, satisfaction: float | None) -> Example:
    """A copy of ``x`` with its context (:attr:`Example.need`, :attr:`Example.satisfaction`),
    keeping its tokens if they are known already.

    >>> x = with_tokens(Example("Where is my parcel?"), ["where", "parcel"])
    >>> y = with_context(x, "delivery", 0.2)
    >>> y.need, y.satisfaction, y.tokens, x.need
    ('delivery', 0.2, ['where', 'parcel'], None)
    """
    copy = replace(x, need=need, satisfaction=satisfaction)
    if "tokens" in x.__dict__:
        copy.__dict__["tokens"] = x.__dict__["tokens"]
    return copy


def with_tokens(x: Example, tokens: Iterable[str]) -> Example:
    """``x`` with its tokens already known (computed by the same tokenizer elsewhere).

    The learner gets the tokens the worker computed, so it does not tokenize the text again.

    >>> x = with_tokens(Example("Where is my parcel?", language="en"), ["where", "parcel"])
    >>> x.tokens
    ['where', 'parcel']
    """
    # ``tokens`` is a cached_property: it lives in the instance dict, frozen or not.
    x.__dict__["tokens"] = list(tokens)
    return x


def term_counts(tokens: Iterable[str]) -> dict[str, float]:
    """Bag of words: each token's count, in first-seen order."""
    counts: dict[str, float] = {}
    for token in tokens:
        counts[token] = counts.get(token, 0.0) + 1.0
    return counts


def top_terms(contributions: Iterable[tuple[str, float]], n: int) -> list[tuple[str, float]]:
    """The ``n`` terms that pushed most towards a class, given each term's contribution
    (feature value times the class weight): positive ones only, largest first (ties in
    the given order), rounded to 4 decimals. The need and satisfaction models explain
    their predictions with it.

    >>> top_terms([("late", 0.5), ("food", -0.2), ("cold", 0.71234), ("order", 0.0)], 2)
    [('cold', 0.7123), ('late', 0.5)]
    """
    kept = [(t, c) for t, c in contributions if c > 0]
    kept.sort(key=lambda tc: tc[1], reverse=True)
    return [(t, round(c, 4)) for t, c in kept[:n]]


class OnlineTfidf:
    """TF-IDF over document frequencies learned online (scikit-learn's smoothed formula).

    ``idf(t) = ln((1 + n) / (1 + df(t))) + 1`` and ``tf = count / length``, L2-normalized,
    as :class:`river.feature_extraction.TFIDF` does, but over ready-made tokens so the
    shared tokenizer runs once per record. Memory is bounded: past ``max_terms`` distinct
    terms, the rarest half is forgotten.

    >>> tfidf = OnlineTfidf()
    >>> for doc in (["late", "flight"], ["late", "bag"], ["late", "refund"]):
    ...     tfidf.learn(doc)
    >>> {t: round(v, 3) for t, v in tfidf.transform(["late", "refund"]).items()}
    {'late': 0.509, 'refund': 0.861}
    """

    def __init__(self, max_terms: int = 500_000) -> None:
        self.max_terms = max_terms
        self.df: Counter[str] = Counter()
        self.n = 0

    def learn(self, tokens: Iterable[str]) -> None:
        """Count one document."""
        self.df.update(set(tokens))
        self.n += 1
        self._bound()

    def learn_counts(self, df: Mapping[str, int], documents: int) -> None:
        """Count ``documents`` documents at once, given their document frequencies.

        The same counts as :meth:`learn` on each of them, in any order; only where the
        vocabulary outgrows ``max_terms`` does it forget the rarest half once, after the
        whole group, rather than at the document that crossed the limit.

        >>> one, many = OnlineTfidf(), OnlineTfidf()
        >>> for doc in (["late", "flight"], ["late", "bag", "bag"]):
        ...     one.learn(doc)
        >>> many.learn_counts({"late": 2, "flight": 1, "bag": 1}, 2)
        >>> (one.df, one.n) == (many.df, many.n)
        True
        """
        self.df.update(df)
        self.n += documents
        self._bound()

    def _bound(self) -> None:
        if len(self.df) > self.max_terms:
            keep = self.df.most_common(self.max_terms // 2)
            self.df = Counter(dict(keep))

    def idf(self, term: str) -> float:
        """The smoothed inverse document frequency of ``term``."""
        return math.log((1 + self.n) / (1 + self.df.get(term, 0))) + 1.0

    def transform(self, tokens: Iterable[str], *, normalize: bool = True) -> dict[str, float]:
        """TF-IDF weights of a document's tokens."""
        counts = term_counts(tokens)
        length = sum(counts.values())
        if not length:
            return {}
        weights = {t: c / length * self.idf(t) for t, c in counts.items()}
        if normalize:
            norm = math.sqrt(sum(w * w for w in weights.values()))
            weights = {t: w / norm for t, w in weights.items()}
        return weights
