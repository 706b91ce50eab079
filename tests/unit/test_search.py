"""The search query language and rendering, without a server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from rich.console import Console

from crmstream.search import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    SearchFilters,
    SearchHit,
    SearchResult,
    build_query,
    parse_query,
    parse_since,
)
from crmstream.search_render import render_json, render_table

NOW = datetime(2026, 1, 20, 12, 0, tzinfo=UTC)


# -- parse_since ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30m", NOW - timedelta(minutes=30)),
        ("2h", NOW - timedelta(hours=2)),
        ("7d", NOW - timedelta(days=7)),
        ("2w", NOW - timedelta(weeks=2)),
        ("45s", NOW - timedelta(seconds=45)),
        (" 2H ", NOW - timedelta(hours=2)),
        ("2026-01-05", datetime(2026, 1, 5, tzinfo=UTC)),
        ("2026-01-05T09:30:00", datetime(2026, 1, 5, 9, 30, tzinfo=UTC)),
        ("2026-01-05T09:30:00Z", datetime(2026, 1, 5, 9, 30, tzinfo=UTC)),
        (
            "2026-01-05T09:30:00+08:00",
            datetime(2026, 1, 5, 9, 30, tzinfo=timezone(timedelta(hours=8))),
        ),
    ],
)
def test_parse_since(value: str, expected: datetime) -> None:
    since = parse_since(value, NOW)
    assert since == expected
    assert since.tzinfo is not None


def test_parse_since_refuses_durations_beyond_the_calendar() -> None:
    with pytest.raises(ValueError, match="too far back"):
        parse_since("99999999999d", NOW)


def test_parse_since_takes_local_times_in_the_zone_of_now() -> None:
    shanghai = timezone(timedelta(hours=8))
    since = parse_since("2026-01-05", datetime(2026, 1, 20, tzinfo=shanghai))
    assert since == datetime(2026, 1, 5, tzinfo=shanghai)
    # A naive `now` is UTC.
    assert parse_since("1h", datetime(2026, 1, 20, 12)) == datetime(2026, 1, 20, 11, tzinfo=UTC)


@pytest.mark.parametrize("value", ["", "yesterday", "2x", "-2h", "1.5h", "h", "2026-13-01"])
def test_parse_since_refuses_anything_else_clearly(value: str) -> None:
    with pytest.raises(ValueError, match=r"--since .*expected a duration such as 30m"):
        parse_since(value, NOW)


# -- parse_query ----------------------------------------------------------------------


def test_parse_query_takes_the_syntax_apart() -> None:
    query = parse_query('refund "late flight" -spam -"gift card" need:billing -lang:zh 退款')
    assert query.words == ("refund", "退款")
    assert query.phrases == ("late flight",)
    assert query.excluded_words == (("spam",),)
    assert query.excluded_phrases == ("gift card",)
    assert query.fields == (("need", "billing"),)
    assert query.excluded_fields == (("language", "zh"),)


def test_parse_query_field_aliases_quoted_values_and_unknown_fields() -> None:
    query = parse_query('agent:a-7 customer:c1 urgency:P1 need:"late delivery" foo:bar 10:30')
    assert query.fields == (
        ("agent_id", "a-7"),
        ("customer_id", "c1"),
        ("urgency_level", "P1"),
        ("need", "late delivery"),
    )
    assert query.words == ("foo", "bar", "10:30")


def test_parse_query_ignores_stopwords_but_keeps_negations() -> None:
    assert parse_query("the refund for my order").words == ("refund", "order")
    assert parse_query("the").words == ()
    assert parse_query("-the").excluded_words == ()
    assert parse_query('"the" -"of the"').phrases == ()
    assert parse_query('-"of the"').excluded_phrases == ()
    assert parse_query('"not"').phrases == ("not",)
    assert parse_query("not received but no refund").words == (
        "not",
        "received",
        "but",
        "no",
        "refund",
    )
    # A Chinese run that is nothing but stopwords is kept whole.
    assert parse_query("的").words == ("的",)


def test_parse_query_segments_chinese_and_mixed_text() -> None:
    assert parse_query("我要退款").words == ("我要", "退款")
    assert parse_query("iPhone屏幕坏了").words == ("iphone", "屏幕", "坏")
    assert parse_query("-快递员").excluded_words == (("快递", "员"),)


def test_parse_query_normalizes_chinese_quotes_and_full_width_forms() -> None:
    assert parse_query("“退款项”").phrases == ("退款项",)
    assert parse_query("ｎｅｅｄ：refund").fields == (("need", "refund"),)


def test_parse_query_of_nothing() -> None:
    query = parse_query("   ")
    assert query == parse_query("")
    assert not query.has_text and not query.fields


# -- build_query ----------------------------------------------------------------------


def bool_of(body: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = body["query"]["bool"]
    return result


def test_empty_query_is_everything_newest_first() -> None:
    body = build_query("", SearchFilters())
    assert body["query"] == {"match_all": {}}
    assert body["sort"][0] == {"occurred_at": {"order": "desc"}}
    assert "highlight" not in body


def test_english_words_each_match_text_or_subject() -> None:
    body = build_query("refund order", SearchFilters())
    assert bool_of(body)["must"] == [
        {"multi_match": {"query": word, "fields": ["text", "subject"], "type": "phrase"}}
        for word in ("refund", "order")
    ]
    assert body["sort"] == [
        {"_score": {"order": "desc"}},
        {"occurred_at": {"order": "desc"}},
        {"event_id": {"order": "asc"}},
    ]
    assert set(body["highlight"]["fields"]) == {"text", "subject"}


def test_chinese_word_matches_text_terms_or_adjacent_characters_on_text() -> None:
    (clause,) = bool_of(build_query("退款", SearchFilters()))["must"]
    should = clause["bool"]["should"]
    assert {"match": {"text_terms": "退款"}} in should
    assert {"match_phrase": {"text": "退款"}} in should
    assert clause["bool"]["minimum_should_match"] == 1


def test_chinese_sentence_requires_each_jieba_word() -> None:
    must = bool_of(build_query("申请退款", SearchFilters()))["must"]
    terms = [clause["bool"]["should"][0]["match"]["text_terms"] for clause in must]
    assert terms == ["申请", "退款"]


def test_mixed_query_english_on_text_chinese_on_text_terms() -> None:
    must = bool_of(build_query("iPhone 退款", SearchFilters()))["must"]
    assert must[0] == {
        "multi_match": {"query": "iphone", "fields": ["text", "subject"], "type": "phrase"}
    }
    assert {"match": {"text_terms": "退款"}} in must[1]["bool"]["should"]


def test_quoted_phrase_is_a_phrase_on_text() -> None:
    must = bool_of(build_query('"late  flight"', SearchFilters()))["must"]
    assert must == [
        {"multi_match": {"query": "late flight", "fields": ["text", "subject"], "type": "phrase"}}
    ]


def test_negations_the_text_analyzer_drops_are_matched_in_text_terms() -> None:
    must = bool_of(build_query("not received", SearchFilters()))["must"]
    assert must[0] == {"match": {"text_terms": "not"}}
    assert must[1]["multi_match"]["query"] == "received"
    (phrase,) = bool_of(build_query('"was NOT received"', SearchFilters()))["must"]
    assert phrase == {"match_phrase": {"text_terms": "not received"}}


def test_exclusions_are_must_not() -> None:
    query = bool_of(build_query('-refund delivery -"gift card" -channel:sms', SearchFilters()))
    assert query["must"] == [
        {"multi_match": {"query": "delivery", "fields": ["text", "subject"], "type": "phrase"}}
    ]
    assert query["must_not"] == [
        {"multi_match": {"query": "refund", "fields": ["text", "subject"], "type": "phrase"}},
        {"multi_match": {"query": "gift card", "fields": ["text", "subject"], "type": "phrase"}},
        {"term": {"channel": "sms"}},
    ]


def test_excluding_a_chinese_sentence_excludes_documents_with_all_its_words() -> None:
    (excluded,) = bool_of(build_query("-申请退款", SearchFilters()))["must_not"]
    assert len(excluded["bool"]["must"]) == 2


def test_field_values_are_exact_filters_and_do_not_rank() -> None:
    body = build_query("need:refund agent:a1", SearchFilters())
    assert bool_of(body) == {"filter": [{"term": {"need": "refund"}}, {"term": {"agent_id": "a1"}}]}
    assert body["sort"][0] == {"occurred_at": {"order": "desc"}}


def test_every_filter() -> None:
    filters = SearchFilters(
        need="refund",
        channel="email",
        agent="a1",
        since=datetime(2026, 1, 5, tzinfo=UTC),
        min_urgency=0.8,
        max_satisfaction=0.3,
        lang="zh",
    )
    assert bool_of(build_query("", filters))["filter"] == [
        {"term": {"need": "refund"}},
        {"term": {"channel": "email"}},
        {"term": {"agent_id": "a1"}},
        {"term": {"language": "zh"}},
        {"range": {"occurred_at": {"gte": "2026-01-05T00:00:00+00:00"}}},
        {"range": {"urgency": {"gte": 0.8}}},
        {"range": {"satisfaction": {"lte": 0.3}}},
    ]


def test_zero_bounds_are_filters_too() -> None:
    conditions = bool_of(build_query("", SearchFilters(min_urgency=0.0, max_satisfaction=0.0)))
    assert len(conditions["filter"]) == 2


# -- rendering ------------------------------------------------------------------------


def result() -> SearchResult:
    source = {
        "event_id": "e1",
        "occurred_at": "2026-01-19T11:00:00+08:00",
        "channel": "chat",
        "customer_id": "c-42",
        "agent_id": "a-7",
        "need": "refund",
        "satisfaction": 0.05,
        "urgency_level": "P1",
        "language": "zh",
        "text": "我要申请退款，快递三天了还没到 [tag]",
    }
    fragment = f"我要申请{HIGHLIGHT_START}退款{HIGHLIGHT_END}，快递三天了还没到 [tag]"
    hit = SearchHit("e1", "crm-communications-2026.01", 3.2, source, {"text": [fragment]})
    bare = SearchHit("e2", "crm-communications-2026.01", None, {"text": "x" * 500})
    return SearchResult(hits=[hit, bare], total=12_000, total_relation="gte")


def test_render_table() -> None:
    console = Console(width=160, record=True, color_system=None)
    render_table(result(), console)
    out = console.export_text()
    assert "2026-01-19 03:00" in out  # shown in UTC
    for value in ("chat", "c-42", "a-7", "refund", "0.05", "P1", "zh", "退款", "[tag]"):
        assert value in out
    assert HIGHLIGHT_START not in out and "…" in out
    assert "2 of 12000+ communications" in out


def test_render_table_of_nothing() -> None:
    console = Console(record=True, color_system=None)
    render_table(SearchResult(hits=[], total=0), console)
    assert "no communications found" in console.export_text()


def test_render_json() -> None:
    output = json.loads(render_json(result()))
    assert output["total"] == 12_000 and output["total_relation"] == "gte"
    first = output["hits"][0]
    assert first["id"] == "e1" and first["score"] == 3.2
    assert first["source"]["need"] == "refund"
    assert first["highlight"]["text"] == ["我要申请<em>退款</em>，快递三天了还没到 [tag]"]
    assert "退款" in render_json(result())  # not \\u escapes
