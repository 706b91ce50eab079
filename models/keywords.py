"""Keywords of a record: its top-k tokens by TF-IDF against document frequencies learned online.

A term is a keyword when it is frequent in the record and rare in the stream so far.
Number shapes (``<num>``), redaction placeholders (``[email]``), emoji and one-letter
Latin tokens are never keywords. Memory is bounded by ``max_terms`` (see
:class:`models.features.OnlineTfidf`).

>>> from models.features import Example
>>> extractor = KeywordExtractor(k=2)
>>> for text in ("where is my parcel", "where is my refund", "parcel lost, where is it"):
...     extractor.learn_one(Example(text))
>>> [term for term, _ in extractor.predict_one(Example("refund for the lost parcel"))]
['refund', 'lost']
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from models.features import Example, OnlineTfidf, term_counts
from models.protocol import BaseOnlineModel
from models.tokenize import NUMBER

__all__ = ["KeywordExtractor", "document_frequencies", "is_keyword_candidate"]

_NOISE = frozenset({"http", "https", "www"})


@functools.lru_cache(maxsize=1 << 16)  # asked for every token the learner counts: a vocabulary
def is_keyword_candidate(token: str) -> bool:
    """Whether a token may be a keyword: it has a letter, and is no placeholder or noise.

    >>> [is_keyword_candidate(t) for t in ("退款", "refund", "<num>", "[email]", "t", "😡")]
    [True, True, False, False, False, False]
    """
    if token == NUMBER or token in _NOISE or token.startswith("["):
        return False
    if not any(ch.isalpha() for ch in token):
        return False
    return not (len(token) == 1 and token.isascii())


def document_frequencies(documents: Iterable[Iterable[str]]) -> tuple[dict[str, int], int]:
    """In how many of ``documents`` (token lists) each term appears, and how many there are.

    What :meth:`KeywordExtractor.learn_counts` takes: a worker counts its batch once, and
    the learner adds one map instead of counting every text.

    >>> document_frequencies([["late", "bag", "bag"], ["late"]])
    ({'late': 2, 'bag': 1}, 2)
    """
    df: Counter[str] = Counter()
    n = 0
    for tokens in documents:
        df.update(dict.fromkeys(tokens, 1))  # once per document, in first-seen order
        n += 1
    return dict(df), n


class KeywordExtractor(BaseOnlineModel[Example, list[tuple[str, float]]]):
    """Top-``k`` TF-IDF terms of a record; ``learn_one(x, y)`` counts ``x`` (``y`` is ignored)."""

    name = "keywords"

    def __init__(self, k: int = 5, max_terms: int = 500_000) -> None:
        super().__init__()
        self.k = k
        self.tfidf = OnlineTfidf(max_terms=max_terms)

    def predict_one(self, x: Example) -> list[tuple[str, float]]:
        counts = term_counts(t for t in x.tokens if is_keyword_candidate(t))
        total = sum(counts.values())
        if not total:
            return []
        scores = [(t, c / total * self.tfidf.idf(t)) for t, c in counts.items()]
        scores.sort(key=lambda ts: ts[1], reverse=True)
        return [(t, round(s, 4)) for t, s in scores[: self.k]]

    def _learn_one(self, x: Example, y: Any) -> None:
        """Count ``x``'s terms in the document frequencies (``y`` is ignored)."""
        self.tfidf.learn(x.tokens)

    def learn_counts(self, df: Mapping[str, int], documents: int) -> None:
        """Count ``documents`` records at once from their :func:`document_frequencies`.

        The same model as :meth:`learn_one` on each record (see
        :meth:`models.features.OnlineTfidf.learn_counts` for the one exception, at the
        vocabulary bound); :attr:`version` counts the records.
        """
        # A bad count would stay in the model for good: refuse the message instead.
        if documents < 0 or any(not 0 < count <= documents for count in df.values()):
            raise ValueError("document frequencies must be between 1 and the number of documents")
        self.tfidf.learn_counts(df, documents)
        self._version += documents

    def explain_one(self, x: Example) -> dict[str, float]:
        """The keywords with their TF-IDF scores."""
        return dict(self.predict_one(x))
