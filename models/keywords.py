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

from typing import Any

from models.features import Example, OnlineTfidf, term_counts
from models.protocol import BaseOnlineModel
from models.tokenize import NUMBER

__all__ = ["KeywordExtractor", "is_keyword_candidate"]

_NOISE = frozenset({"http", "https", "www"})


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

    def _learn_one(self, x: Example, y: Any = None) -> None:
        self.tfidf.learn(x.tokens)

    def learn_one(self, x: Example, y: Any = None) -> None:
        """Count ``x``'s terms in the document frequencies."""
        super().learn_one(x, y)

    def explain_one(self, x: Example) -> dict[str, float]:
        """The keywords with their TF-IDF scores."""
        return dict(self.predict_one(x))
