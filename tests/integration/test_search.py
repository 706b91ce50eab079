"""Search against the real Elasticsearch: English words, jieba words, phrases, filters.

The module works in an index of its own (``ts<uuid>-crm-communications-2026.01``,
behind the alias ``ts<uuid>-crm-communications``) built from the communications
template, with a dozen hand-written documents, and deletes it at the end.
Elasticsearch is started only if it is not running (and then stopped again).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from config.settings import Settings
from crmstream.search import (
    TEXT_ANALYZER_STOPWORDS,
    SearchFilters,
    SearchResult,
    search,
)
from crmstream.search_render import render_json
from models.tokenize import tokenize
from streams.search_index import COMMUNICATIONS_ALIAS, TEMPLATES_DIR
from tests.integration.support import index_holding

TEXT_TERMS = {"type": "text", "analyzer": "whitespace"}


def _doc(
    event_id: str,
    when: str,
    text: str,
    *,
    language: str,
    channel: str = "email",
    need: str = "other",
    agent_id: str = "agent-1",
    urgency: float = 0.3,
    satisfaction: float = 0.5,
    subject: str | None = None,
) -> dict[str, Any]:
    level = "P1" if urgency >= 0.8 else "P3"
    document: dict[str, Any] = {
        "schema_version": "1.0",
        "event_id": event_id,
        "occurred_at": when,
        "processed_at": when,
        "customer_id": f"cust-{event_id}",
        "agent_id": agent_id,
        "channel": channel,
        "direction": "inbound",
        "language": language,
        "need": need,
        "text": text,
        "text_terms": " ".join(tokenize(text, language)),
        "satisfaction": satisfaction,
        "sentiment": "negative" if satisfaction < 0.4 else "neutral",
        "urgency": urgency,
        "urgency_level": level,
    }
    if subject is not None:
        document["subject"] = subject
    return document


DOCUMENTS = [
    _doc(
        "en-refund",
        "2026-01-20T09:00:00Z",
        "I want a refund for my order, it never arrived.",
        language="en",
        need="refund",
        urgency=0.9,
        satisfaction=0.1,
    ),
    _doc(
        "en-subject-refund",
        "2026-01-03T10:00:00Z",
        "Please send my money back for the broken blender.",
        language="en",
        need="refund",
        subject="Refund request",
        agent_id="agent-2",
    ),
    _doc(
        "en-late-flight",
        "2026-01-18T08:00:00Z",
        "The late flight made me miss my connection.",
        language="en",
        channel="phone",
        need="delay",
        urgency=0.85,
        satisfaction=0.15,
    ),
    _doc(
        "en-flight-not-late",
        "2026-01-17T08:00:00Z",
        "The flight was not late but the meal was cold.",
        language="en",
        channel="phone",
        need="delay",
        satisfaction=0.35,
    ),
    _doc(
        "en-delivery-ok",
        "2026-01-16T12:00:00Z",
        "Delivery was quick, thanks a lot!",
        language="en",
        channel="chat",
        need="delivery",
        satisfaction=0.95,
        urgency=0.1,
    ),
    _doc(
        "en-delivery-refund",
        "2026-01-15T12:00:00Z",
        "The delivery failed, so I need a refund.",
        language="en",
        channel="chat",
        need="delivery",
        urgency=0.6,
    ),
    _doc(
        "zh-refund-courier",
        "2026-01-19T03:00:00Z",
        "我要申请退款，快递三天了还没到",
        language="zh",
        channel="chat",
        need="refund",
        urgency=0.95,
        satisfaction=0.05,
        agent_id="agent-2",
    ),
    # jieba reads 退 + 款项 here: only the phrase on `text` finds 退款.
    _doc(
        "zh-refund-split",
        "2026-01-12T03:00:00Z",
        "请尽快退款项",
        language="zh",
        channel="sms",
        need="refund",
        urgency=0.7,
    ),
    # 退 and 款 in the text, but not side by side: not a 退款.
    _doc("zh-apart", "2026-01-11T03:00:00Z", "希望退还款项", language="zh", channel="sms"),
    # jieba: 快递 + 员; 快递 must find it.
    _doc(
        "zh-courier",
        "2026-01-10T03:00:00Z",
        "快递员态度很差，把包裹扔在门口",
        language="zh",
        channel="phone",
        need="delivery",
        satisfaction=0.2,
    ),
    # 快 and 递 not side by side: not a 快递.
    _doc(
        "zh-fast",
        "2026-01-09T03:00:00Z",
        "快速递送服务很好",
        language="zh",
        channel="social",
        need="delivery",
        satisfaction=0.9,
    ),
    _doc(
        "zh-flight",
        "2026-01-08T03:00:00Z",
        "航班延误了五个小时",
        language="zh",
        channel="phone",
        need="delay",
        urgency=0.8,
    ),
    _doc("en-not-received", "2026-01-06T08:00:00Z", "My package was not received.", language="en"),
    _doc("en-received", "2026-01-05T08:00:00Z", "Package received, all good.", language="en"),
    _doc(
        "mixed-iphone",
        "2026-01-07T03:00:00Z",
        "iPhone 15 屏幕坏了，需要退款",
        language="zh",
        channel="email",
        need="refund",
        agent_id="agent-3",
    ),
]

ALL = {document["event_id"] for document in DOCUMENTS}


def _template_body() -> dict[str, Any]:
    """The communications template's settings and mappings (with text_terms, if not yet there)."""
    template = json.loads((TEMPLATES_DIR / "communications.json").read_text())["template"]
    properties = template["mappings"]["properties"]
    properties.setdefault("text_terms", TEXT_TERMS)
    return {"settings": template["settings"], "mappings": template["mappings"]}


@pytest.fixture(scope="module")
def es() -> Iterator[tuple[Elasticsearch, str]]:
    """A client and the alias of this module's own index, filled with DOCUMENTS."""

    def own_index(client: Elasticsearch, settings: Settings) -> str:
        alias = settings.index_name(COMMUNICATIONS_ALIAS)
        client.indices.create(index=f"{alias}-2026.01", aliases={alias: {}}, **_template_body())
        return f"{alias}-2026.01"

    documents = {document["event_id"]: document for document in DOCUMENTS}
    with index_holding("ts", own_index, documents) as (client, settings):
        yield client, settings.index_name(COMMUNICATIONS_ALIAS)


def ids(result: SearchResult) -> set[str]:
    return {hit.id for hit in result.hits}


def find(es: tuple[Elasticsearch, str], text: str, **filters: Any) -> set[str]:
    client, alias = es
    result = search(client, alias, text, SearchFilters(**filters), size=100)
    assert result.total == len(result.hits)
    return ids(result)


def test_english_word_matches_text_and_subject(es: tuple[Elasticsearch, str]) -> None:
    assert find(es, "refund") == {"en-refund", "en-subject-refund", "en-delivery-refund"}
    assert find(es, "REFUND") == find(es, "refund")


def test_every_word_must_match_and_stopwords_are_ignored(es: tuple[Elasticsearch, str]) -> None:
    assert find(es, "the refund delivery") == {"en-delivery-refund"}
    assert find(es, "refund order") == {"en-refund"}


def test_chinese_word_matches_jieba_words_and_adjacent_characters(
    es: tuple[Elasticsearch, str],
) -> None:
    # zh-refund-split only through the phrase on `text`; zh-apart not at all.
    assert find(es, "退款") == {"zh-refund-courier", "zh-refund-split", "mixed-iphone"}
    # 快递员 is found, 快速递送 is not.
    assert find(es, "快递") == {"zh-refund-courier", "zh-courier"}
    # Segmented into 申请 + 退款, both required.
    assert find(es, "申请退款") == {"zh-refund-courier"}


def test_negations_are_searchable_although_the_text_analyzer_drops_them(
    es: tuple[Elasticsearch, str],
) -> None:
    assert find(es, "not late") == {"en-flight-not-late"}
    assert find(es, "received") == {"en-not-received", "en-received"}
    assert find(es, '"not received"') == {"en-not-received"}
    assert find(es, '"was not received"') == {"en-not-received"}
    assert find(es, "received -not") == {"en-received"}


def test_the_stopword_list_is_the_text_analyzers(es: tuple[Elasticsearch, str]) -> None:
    client, alias = es
    words = " ".join(sorted(TEXT_ANALYZER_STOPWORDS))
    analyzed = client.indices.analyze(index=alias, field="text", text=f"{words} refund")
    assert [token["token"] for token in analyzed["tokens"]] == ["refund"]


def test_mixed_query(es: tuple[Elasticsearch, str]) -> None:
    assert find(es, "iPhone 退款") == {"mixed-iphone"}
    assert find(es, "iphone屏幕") == {"mixed-iphone"}


def test_quoted_phrase_keeps_the_order(es: tuple[Elasticsearch, str]) -> None:
    assert find(es, '"late flight"') == {"en-late-flight"}
    assert find(es, "late flight") == {"en-late-flight", "en-flight-not-late"}
    assert find(es, "“退款项”") == {"zh-refund-split"}


def test_exclusion(es: tuple[Elasticsearch, str]) -> None:
    assert find(es, "-refund delivery") == {"en-delivery-ok"}
    assert find(es, "退款 -快递") == {"zh-refund-split", "mixed-iphone"}
    assert find(es, 'flight -"late flight"') == {"en-flight-not-late"}


def test_field_values(es: tuple[Elasticsearch, str]) -> None:
    assert find(es, "channel:sms") == {"zh-refund-split", "zh-apart"}
    assert find(es, "refund agent:agent-2") == {"en-subject-refund"}
    assert find(es, "need:delay -lang:zh") == {"en-late-flight", "en-flight-not-late"}


def test_filters(es: tuple[Elasticsearch, str]) -> None:
    refunds = {"en-refund", "en-subject-refund", "zh-refund-courier", "zh-refund-split"}
    assert find(es, "", need="refund") == refunds | {"mixed-iphone"}
    assert find(es, "", channel="chat") == {
        "en-delivery-ok",
        "en-delivery-refund",
        "zh-refund-courier",
    }
    assert find(es, "", agent="agent-3") == {"mixed-iphone"}
    since = datetime(2026, 1, 18, tzinfo=UTC)
    assert find(es, "", since=since) == {"en-refund", "en-late-flight", "zh-refund-courier"}
    assert find(es, "", min_urgency=0.8) == {
        "en-refund",
        "en-late-flight",
        "zh-refund-courier",
        "zh-flight",
    }
    assert find(es, "", max_satisfaction=0.2) == {
        "en-refund",
        "en-late-flight",
        "zh-refund-courier",
        "zh-courier",
    }
    assert find(es, "", lang="zh") == {
        "zh-refund-courier",
        "zh-refund-split",
        "zh-apart",
        "zh-courier",
        "zh-fast",
        "zh-flight",
        "mixed-iphone",
    }
    assert find(es, "退款", lang="zh", min_urgency=0.8) == {"zh-refund-courier"}


def test_empty_query_lists_everything_newest_first(es: tuple[Elasticsearch, str]) -> None:
    client, alias = es
    result = search(client, alias, "", SearchFilters(), size=100)
    assert ids(result) == ALL and result.total == len(ALL)
    times = [hit.source["occurred_at"] for hit in result.hits]
    assert times == sorted(times, reverse=True)
    assert all("text_terms" not in hit.source for hit in result.hits)
    assert len(search(client, alias, "", SearchFilters(), size=3).hits) == 3


def test_results_rank_by_relevance_and_carry_highlights(es: tuple[Elasticsearch, str]) -> None:
    client, alias = es
    result = search(client, alias, "退款", SearchFilters(), size=100)
    scores = [hit.score for hit in result.hits if hit.score is not None]
    assert len(scores) == len(result.hits) == 3
    assert scores == sorted(scores, reverse=True)
    highlighted = {hit.id: hit.highlight["text"][0] for hit in result.hits}
    assert "退" in highlighted["zh-refund-split"]
    output = json.loads(render_json(result))
    assert output["total"] == 3
    assert any("<em>" in hit["highlight"]["text"][0] for hit in output["hits"])
