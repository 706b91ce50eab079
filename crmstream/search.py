"""Search the indexed communications: a small query language, filters, a table or JSON.

``crmstream search "QUERY"`` looks in the alias ``crm-communications`` (behind it,
the monthly indices). The query syntax:

- **Free words** must all match (AND). ``refund late`` finds communications with
  both words, in any order. English words match ``text`` or ``subject``
  (case-insensitive, as whole words: ``refund`` does not find ``refunded``).
  English stopwords (``the``, ``for``, ``my`` ...) are ignored. ``not``, ``no``
  and ``but``, which the text analyzer leaves out but which matter in complaints,
  are matched in the words of the text (``text_terms``) instead.
- **Chinese** (and the Chinese part of mixed text such as ``iPhone屏幕``) is cut
  into words with the same tokenizer the models use (jieba): ``我要退款`` is the
  two words 我要 and 退款, each required. A Chinese word matches a communication
  whose text was segmented into the same word (the ``text_terms`` field) *or*
  whose text or subject holds its characters side by side, so ``退款`` also finds
  请尽快退款项 (which jieba cut as 退 + 款项) but not 希望退还款项 (退 and 款 apart),
  and ``快递`` finds 快递员.
- ``"quoted phrases"`` match those words next to each other, in that order, in
  ``text`` or ``subject``: ``"late flight"`` does not find "the flight was late".
  Stopwords in a phrase stand for any word (``"refund for order"`` also finds
  "refund my order"); a phrase with ``not``, ``no`` or ``but`` is matched in the
  words of the text (``"not received"`` finds "was not received", without the
  filler words). Chinese quotes (“ ”) work too.
- ``-word``, ``-"a phrase"`` and ``-field:value`` exclude: ``-refund delivery``
  finds communications about delivery that do not mention a refund.
- ``field:value`` keeps only communications whose keyword field has exactly that
  value (case-sensitive): ``need``, ``channel``, ``agent_id`` (or ``agent``),
  ``customer_id`` (or ``customer``), ``language`` (or ``lang``), ``sentiment``,
  ``urgency_level`` (or ``urgency``) and ``direction``. Quote values with spaces:
  ``need:"late delivery"``. Repeating a field requires both values (so finds
  nothing for single-valued fields). Any other ``word:word`` is searched as text.
- An **empty query** lists every communication (restricted by the filters),
  newest first; with words or phrases, the best matches come first, then the newest.

The command-line filters add exact conditions: ``--need``, ``--channel``,
``--agent`` (agent id), ``--lang`` (language), ``--since`` (``30m``, ``2h``,
``7d``, ``2w``, a date ``2026-01-05`` or an ISO 8601 time; see
:func:`parse_since`), ``--min-urgency`` (urgency ≥ N, 0 to 1) and
``--max-satisfaction`` (satisfaction ≤ N, 0 worst to 1 best).

The module splits into pure parts (:func:`parse_query`, :func:`build_query`,
:func:`parse_since`) and one call to Elasticsearch (:func:`search`); the results are
rendered by :mod:`crmstream.search_render`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch

from models.tokenize import ENGLISH_STOPWORDS, tokenize

__all__ = [
    "FIELD_ALIASES",
    "HIGHLIGHT_END",
    "HIGHLIGHT_START",
    "ParsedQuery",
    "SearchFilters",
    "SearchHit",
    "SearchResult",
    "build_query",
    "parse_query",
    "parse_since",
    "search",
]

#: The keyword fields ``field:value`` may name, with their short aliases.
FIELD_ALIASES: dict[str, str] = {
    "need": "need",
    "channel": "channel",
    "agent_id": "agent_id",
    "agent": "agent_id",
    "customer_id": "customer_id",
    "customer": "customer_id",
    "language": "language",
    "lang": "language",
    "sentiment": "sentiment",
    "urgency_level": "urgency_level",
    "urgency": "urgency_level",
    "direction": "direction",
}

#: Fields English words and phrases are looked for in.
TEXT_FIELDS: tuple[str, ...] = ("text", "subject")

#: The stop words of the ``crm_text`` analyzer of ``text`` and ``subject`` (Lucene's
#: ``_english_`` list): Elasticsearch neither indexes nor searches them there.
_LUCENE_ENGLISH_STOPWORDS = """
    a an and are as at be but by for if in into is it no not of on or such that the
    their then there these they this to was will with
"""
TEXT_ANALYZER_STOPWORDS: frozenset[str] = frozenset(_LUCENE_ENGLISH_STOPWORDS.split())
# Stop words for the text analyzer that the shared tokenizer keeps (negations and
# "but"): these are found in ``text_terms`` instead.
_DROPPED_BY_TEXT = TEXT_ANALYZER_STOPWORDS - ENGLISH_STOPWORDS

#: Highlight markers (Unicode private-use characters: never in real text).
HIGHLIGHT_START = "\ue000"
HIGHLIGHT_END = "\ue001"

_HAN_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_RUN = re.compile(rf"[{_HAN_CLASS}]+")
_HAS_HAN = re.compile(rf"[{_HAN_CLASS}]")
# Numbers whole with their inner separators (12.50, 2026-01-05), else words with
# inner apostrophes (don't) - the same units the standard analyzer keeps.
_WORD = re.compile(rf"\d+(?:[.,:/-]\d+)*(?![^\W_])|[^\W_{_HAN_CLASS}]+(?:['’][^\W_{_HAN_CLASS}]+)*")
# One query item: an optional "-", then field:value, field:"value", "a phrase" or a word.
_ITEM = re.compile(
    r"""(?P<neg>-(?=\S))?
        (?:
            (?P<field>[A-Za-z_]+):(?:"(?P<fquoted>[^"]*)(?:"|$)|(?P<fvalue>[^\s"]+))
          | "(?P<phrase>[^"]*)(?:"|$)
          | (?P<word>[^\s"]+)
        )""",
    re.VERBOSE,
)
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "「": '"', "」": '"'})
_DURATION = re.compile(r"(?P<amount>\d+)\s*(?P<unit>[smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class SearchFilters:
    """Exact conditions from the command line; ``None`` means no condition."""

    need: str | None = None
    channel: str | None = None
    agent: str | None = None
    since: datetime | None = None
    min_urgency: float | None = None
    max_satisfaction: float | None = None
    lang: str | None = None


@dataclass(frozen=True)
class ParsedQuery:
    """A query string taken apart (see the module docstring for the syntax).

    ``words`` are the required words, already segmented (Chinese via jieba);
    ``excluded_words`` holds one tuple per excluded item (a document is excluded
    when it has all the words of one item); ``fields`` and ``excluded_fields``
    are ``(field, value)`` pairs with the field name resolved.
    """

    words: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    fields: tuple[tuple[str, str], ...] = ()
    excluded_words: tuple[tuple[str, ...], ...] = ()
    excluded_phrases: tuple[str, ...] = ()
    excluded_fields: tuple[tuple[str, str], ...] = ()

    @property
    def has_text(self) -> bool:
        """Whether anything is scored (words or phrases), so results rank by relevance."""
        return bool(self.words or self.phrases)


@dataclass(frozen=True)
class SearchHit:
    """One communication found: its document id, index, score, source and highlights."""

    id: str
    index: str
    score: float | None
    source: dict[str, Any]
    highlight: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchResult:
    """The hits of one search, best first, and how many matched in all.

    ``total_relation`` is ``"eq"`` when ``total`` is exact, ``"gte"`` when it is a
    lower bound (Elasticsearch stops counting at 10,000).
    """

    hits: list[SearchHit]
    total: int
    total_relation: str = "eq"


# -- parsing ------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    """The words of ``text`` in order, lower-cased, without English stopwords.

    Han runs are segmented by the shared tokenizer (which drops Chinese stopwords;
    a run that is nothing but stopwords, such as 的, is kept whole).
    """
    words: list[str] = []
    position = 0
    for run in _HAN_RUN.finditer(text):
        words.extend(_other_words(text[position : run.start()]))
        words.extend(tokenize(run.group()) or [run.group()])
        position = run.end()
    words.extend(_other_words(text[position:]))
    return words


def _other_words(text: str) -> list[str]:
    found = (m.group().lower() for m in _WORD.finditer(text))
    return [word for word in found if word not in ENGLISH_STOPWORDS]


def parse_query(text: str) -> ParsedQuery:
    """Take a query string apart into words, phrases, field filters and exclusions.

    >>> q = parse_query('The refund "late flight" -spam channel:email 我要退款')
    >>> q.words, q.phrases, q.excluded_words, q.fields
    (('refund', '我要', '退款'), ('late flight',), (('spam',),), (('channel', 'email'),))
    """
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    words: list[str] = []
    phrases: list[str] = []
    fields: list[tuple[str, str]] = []
    excluded_words: list[tuple[str, ...]] = []
    excluded_phrases: list[str] = []
    excluded_fields: list[tuple[str, str]] = []
    for item in _ITEM.finditer(text):
        negated = item.group("neg") is not None
        name, value = item.group("field"), item.group("fquoted") or item.group("fvalue")
        free = item.group("word")
        phrase = item.group("phrase")
        if name is not None:
            target = FIELD_ALIASES.get(name.lower())
            if target is not None and value:
                (excluded_fields if negated else fields).append((target, value))
                continue
            # Not a field we know (or no value): search it as text.
            if item.group("fquoted") is not None:
                free, phrase = name, value
            else:
                free = f"{name}:{value or ''}"
        if phrase is not None:
            phrase = " ".join(phrase.split())
            if _words(phrase):  # a phrase of stopwords alone is ignored, as they are
                (excluded_phrases if negated else phrases).append(phrase)
        if free is not None:
            found = _words(free)
            if negated:
                if found:
                    excluded_words.append(tuple(found))
            else:
                words.extend(found)
    return ParsedQuery(
        words=tuple(dict.fromkeys(words)),
        phrases=tuple(dict.fromkeys(phrases)),
        fields=tuple(dict.fromkeys(fields)),
        excluded_words=tuple(dict.fromkeys(excluded_words)),
        excluded_phrases=tuple(dict.fromkeys(excluded_phrases)),
        excluded_fields=tuple(dict.fromkeys(excluded_fields)),
    )


def parse_since(value: str, now: datetime) -> datetime:
    """The start of a ``--since`` window, as an aware datetime.

    ``value`` is a duration back from ``now`` (``45s``, ``30m``, ``2h``, ``7d``,
    ``2w``), a date (midnight) or an ISO 8601 date and time. A date or time without
    an offset is taken in ``now``'s time zone (UTC when ``now`` is naive).

    >>> now = datetime(2026, 1, 20, 12, 0, tzinfo=UTC)
    >>> parse_since("2h", now).isoformat()
    '2026-01-20T10:00:00+00:00'
    >>> parse_since("2026-01-05", now).isoformat()
    '2026-01-05T00:00:00+00:00'
    >>> parse_since("2026-01-05T08:30:00+08:00", now).isoformat()
    '2026-01-05T08:30:00+08:00'
    >>> parse_since("yesterday", now)
    Traceback (most recent call last):
    ...
    ValueError: --since 'yesterday': expected a duration such as 30m, 2h, 7d or 2w, a date such as 2026-01-05, or an ISO 8601 time such as 2026-01-05T09:30:00+08:00
    """  # noqa: E501
    zone = now.tzinfo or UTC
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    cleaned = value.strip()
    duration = _DURATION.fullmatch(cleaned.lower())
    if duration is not None:
        amount = int(duration.group("amount"))
        try:
            return now - timedelta(**{_UNITS[duration.group("unit")]: amount})
        except OverflowError:
            raise ValueError(f"--since {value!r}: too far back") from None
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(
            f"--since {value!r}: expected a duration such as 30m, 2h, 7d or 2w, a date such "
            "as 2026-01-05, or an ISO 8601 time such as 2026-01-05T09:30:00+08:00"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed


# -- query building -----------------------------------------------------------------


def _word_clause(word: str) -> dict[str, Any]:
    """The clause one word must satisfy."""
    if _HAS_HAN.search(word):
        # The same jieba word, or the same characters side by side (however jieba
        # cut the document: the standard analyzer indexes one token per character).
        return {
            "bool": {
                "should": [
                    {"match": {"text_terms": word}},
                    {"match_phrase": {"text": word}},
                    {"match_phrase": {"subject": word}},
                ],
                "minimum_should_match": 1,
            }
        }
    if word in _DROPPED_BY_TEXT:
        # not, no, but: the text analyzer drops them, the shared tokenizer keeps them.
        return {"match": {"text_terms": word}}
    # "phrase" so that a word the analyzer splits (e-mail, 12.50) stays together.
    return {"multi_match": {"query": word, "fields": list(TEXT_FIELDS), "type": "phrase"}}


def _phrase_clause(phrase: str) -> dict[str, Any]:
    """The clause a quoted phrase must satisfy."""
    if _DROPPED_BY_TEXT.intersection(m.group().lower() for m in _WORD.finditer(phrase)):
        # "not received": the text analyzer would drop "not" and find any "received";
        # the shared tokenizer keeps it (and drops the same filler words on both sides).
        return {"match_phrase": {"text_terms": " ".join(tokenize(phrase))}}
    return {"multi_match": {"query": phrase, "fields": list(TEXT_FIELDS), "type": "phrase"}}


def _all_of(clauses: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return clauses[0] if len(clauses) == 1 else {"bool": {"must": list(clauses)}}


def build_query(text: str, filters: SearchFilters) -> dict[str, Any]:
    """The Elasticsearch search body (``query``, ``sort``; ``highlight`` with text).

    Words and phrases are scored (``must``); ``field:value`` and the filters are
    exact conditions (``filter``); exclusions are ``must_not``.

    >>> build_query("", SearchFilters(channel="email"))
    {'query': {'bool': {'filter': [{'term': {'channel': 'email'}}]}}, 'sort': [{'occurred_at': {'order': 'desc'}}, {'event_id': {'order': 'asc'}}]}

    >>> body = build_query("refund", SearchFilters(min_urgency=0.8))
    >>> body["query"]["bool"]["must"]
    [{'multi_match': {'query': 'refund', 'fields': ['text', 'subject'], 'type': 'phrase'}}]
    >>> body["query"]["bool"]["filter"]
    [{'range': {'urgency': {'gte': 0.8}}}]
    >>> body["sort"][0]
    {'_score': {'order': 'desc'}}

    A Chinese word matches jieba's word in ``text_terms`` or its characters in a row:

    >>> build_query("退款", SearchFilters())["query"]["bool"]["must"][0]["bool"]["should"]
    [{'match': {'text_terms': '退款'}}, {'match_phrase': {'text': '退款'}}, {'match_phrase': {'subject': '退款'}}]
    """  # noqa: E501
    parsed = parse_query(text)
    must = [_word_clause(word) for word in parsed.words]
    must += [_phrase_clause(phrase) for phrase in parsed.phrases]
    conditions: list[dict[str, Any]] = [{"term": {name: value}} for name, value in parsed.fields]
    for name, value in (
        ("need", filters.need),
        ("channel", filters.channel),
        ("agent_id", filters.agent),
        ("language", filters.lang),
    ):
        if value is not None:
            conditions.append({"term": {name: value}})
    if filters.since is not None:
        conditions.append({"range": {"occurred_at": {"gte": filters.since.isoformat()}}})
    if filters.min_urgency is not None:
        conditions.append({"range": {"urgency": {"gte": filters.min_urgency}}})
    if filters.max_satisfaction is not None:
        conditions.append({"range": {"satisfaction": {"lte": filters.max_satisfaction}}})
    must_not = [_all_of([_word_clause(w) for w in words]) for words in parsed.excluded_words]
    must_not += [_phrase_clause(phrase) for phrase in parsed.excluded_phrases]
    must_not += [{"term": {name: value}} for name, value in parsed.excluded_fields]

    clauses = {"must": must, "filter": conditions, "must_not": must_not}
    boolean = {occur: found for occur, found in clauses.items() if found}
    body: dict[str, Any] = {"query": {"bool": boolean} if boolean else {"match_all": {}}}
    newest: list[dict[str, Any]] = [
        {"occurred_at": {"order": "desc"}},
        {"event_id": {"order": "asc"}},
    ]
    if parsed.has_text:
        body["sort"] = [{"_score": {"order": "desc"}}, *newest]
        body["highlight"] = {
            "fields": {name: {} for name in TEXT_FIELDS},
            "pre_tags": [HIGHLIGHT_START],
            "post_tags": [HIGHLIGHT_END],
            "fragment_size": 160,
            "number_of_fragments": 1,
        }
    else:
        body["sort"] = newest
    return body


# -- the search ---------------------------------------------------------------------


def search(
    client: Elasticsearch, index: str, text: str, filters: SearchFilters, *, size: int = 20
) -> SearchResult:
    """Run the query on ``index`` (an index, alias or pattern); the first ``size`` hits.

    Raises the client's errors as they are: ``elasticsearch.NotFoundError`` when
    the index does not exist (nothing was indexed yet, or another namespace),
    ``elastic_transport.ConnectionError`` when the cluster does not answer.
    """
    body = build_query(text, filters)
    response: Any = client.search(index=index, size=size, source_excludes=["text_terms"], **body)
    total = response["hits"]["total"]
    hits = [
        SearchHit(
            id=str(hit["_id"]),
            index=str(hit["_index"]),
            score=hit.get("_score"),
            source=dict(hit.get("_source") or {}),
            highlight={name: list(parts) for name, parts in hit.get("highlight", {}).items()},
        )
        for hit in response["hits"]["hits"]
    ]
    return SearchResult(hits=hits, total=int(total["value"]), total_relation=total["relation"])
