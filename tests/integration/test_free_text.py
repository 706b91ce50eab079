"""Field-less free text against the real index: what an analyst types in Kibana's search bar.

``query_string`` and ``simple_query_string`` without fields (Kibana's Lucene
syntax), and ``multi_match`` without fields (what Kibana's KQL sends for a bare
word), search the template's ``index.query.default_field``. A Chinese word must
match the messages whose text holds that word, not every message sharing one of
its characters (快递 must not find 很快), and an English word the messages with
that word in any case. The module installs the real templates in a namespace of
its own, indexes a dozen documents into the monthly index the template creates,
and deletes both at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from config.settings import Settings
from models.tokenize import tokenize
from streams.search_index import (
    COMMUNICATIONS_ALIAS,
    TEMPLATE_FILES,
    communications_index,
    install_templates,
)
from tests.integration.support import index_holding

TEXTS = {
    "zh-courier-late": ("我的快递还没到", "zh"),
    "zh-courier-fast": ("快递很快就到了", "zh"),
    "zh-courier-lost-refund": ("快递丢了我要退款", "zh"),
    # 很快 and 尽快 share 快 with 快递; 退还款项 holds 退 and 款 apart.
    "zh-reply-fast": ("回复很快，谢谢", "zh"),
    "zh-soon": ("请尽快处理", "zh"),
    "zh-apart": ("希望退还款项", "zh"),
    "zh-refund": ("我要退款", "zh"),
    "zh-refund-when": ("退款什么时候到账", "zh"),
    "mixed-iphone": ("iPhone 15 屏幕坏了，需要退款", "zh"),
    "en-refund": ("I want a Refund for my order, it never arrived.", "en"),
    # A different word: refund does not find refunded.
    "en-refunded": ("They refunded me already, thanks.", "en"),
    "en-delivery": ("Delivery was quick, thanks a lot!", "en"),
}
AT = datetime(2026, 1, 20, 9, tzinfo=UTC)

EXPECTED = {
    "快递": {"zh-courier-late", "zh-courier-fast", "zh-courier-lost-refund"},
    "退款": {"zh-courier-lost-refund", "zh-refund", "zh-refund-when", "mixed-iphone"},
    "refund": {"en-refund"},
    "REFUND": {"en-refund"},
    "delivery": {"en-delivery"},
}


def _document(event_id: str, text: str, language: str) -> dict[str, Any]:
    # The fields the template requires of a search, as streams/sinks.py writes them.
    return {
        "event_id": event_id,
        "occurred_at": AT.isoformat(),
        "customer_id": f"cust-{event_id}",
        "channel": "chat",
        "direction": "inbound",
        "language": language,
        "text": text,
        "text_terms": " ".join(tokenize(text, language)),
    }


@pytest.fixture(scope="module")
def es() -> Iterator[tuple[Elasticsearch, str]]:
    """A client and this module's alias, its index made by the installed template."""

    def templated_index(client: Elasticsearch, settings: Settings) -> str:
        install_templates(client, settings)
        return communications_index(settings, AT)

    documents = {event_id: _document(event_id, *text) for event_id, text in TEXTS.items()}
    with index_holding("tf", templated_index, documents) as (client, settings):
        try:
            yield client, settings.index_name(COMMUNICATIONS_ALIAS)
        finally:
            for alias in TEMPLATE_FILES:
                client.indices.delete_index_template(name=settings.index_name(alias))


FIELDLESS = {
    "query_string": lambda text: {"query_string": {"query": text}},
    "simple_query_string": lambda text: {"simple_query_string": {"query": text}},
    "multi_match": lambda text: {"multi_match": {"query": text}},
}


@pytest.mark.parametrize("kind", sorted(FIELDLESS))
@pytest.mark.parametrize("word", sorted(EXPECTED))
def test_a_fieldless_word_finds_exactly_the_messages_with_that_word(
    es: tuple[Elasticsearch, str], kind: str, word: str
) -> None:
    client, alias = es
    response = client.search(index=alias, query=FIELDLESS[kind](word), size=50)
    assert {hit["_id"] for hit in response["hits"]["hits"]} == EXPECTED[word]


def test_two_words_with_and_find_the_messages_with_both(es: tuple[Elasticsearch, str]) -> None:
    client, alias = es
    response = client.search(index=alias, query={"query_string": {"query": "快递 AND 退款"}})
    assert {hit["_id"] for hit in response["hits"]["hits"]} == {"zh-courier-lost-refund"}


def test_characters_side_by_side_are_still_found_on_text(es: tuple[Elasticsearch, str]) -> None:
    """``text:"…"`` names the character field: a phrase of characters, as before."""
    client, alias = es
    response = client.search(index=alias, query={"query_string": {"query": 'text:"快递"'}})
    assert {hit["_id"] for hit in response["hits"]["hits"]} == EXPECTED["快递"]
    response = client.search(index=alias, query={"query_string": {"query": "text:快"}})
    # One character on `text`: every message holding it, which is why it is not a default.
    assert {hit["_id"] for hit in response["hits"]["hits"]} == EXPECTED["快递"] | {
        "zh-reply-fast",
        "zh-soon",
    }
