"""The pure parts of ``crmstream similar``: the queries and the choice of the reply."""

from __future__ import annotations

from typing import Any

from crmstream.similar import (
    Communication,
    LabelledText,
    choose_reply,
    conversations_query,
    labelled_documents,
    ratings_query,
    similar_query,
)


def _c(event_id: str, at: str, direction: str = "inbound", **fields: Any) -> Communication:
    return Communication(
        event_id, "idx", f"2026-01-0{at}T10:00:00Z", f"text {event_id}", direction, **fields
    )


ASKED = _c("q", "9", need="refund", language="en")


def test_similar_query_looks_only_at_earlier_messages_of_the_same_language_and_direction() -> None:
    body = similar_query(ASKED, size=5)
    query = body["query"]["bool"]
    assert {"range": {"occurred_at": {"lt": ASKED.occurred_at}}} in query["filter"]
    assert {"term": {"language": "en"}} in query["filter"]
    assert {"term": {"direction": "inbound"}} in query["filter"]
    assert query["must_not"] == [{"ids": {"values": ["q"]}}]
    assert query["must"][0]["more_like_this"]["fields"] == ["text_terms"]
    # Unknown language: no language condition rather than a condition on None.
    unknown = similar_query(_c("u", "9"))["query"]["bool"]["filter"]
    assert not any("language" in str(f) for f in unknown)


def test_queries_ask_for_each_conversation_once() -> None:
    assert conversations_query(["b", "a", "b"])["query"] == {
        "terms": {"conversation_id": ["a", "b"]}
    }
    assert ratings_query(["b", "a", "b"])["aggs"]["by_conversation"]["terms"]["size"] == 2


def test_the_reply_comes_from_a_well_rated_conversation_and_same_need_first() -> None:
    other_need = _c("a", "1", conversation_id="c1", need="billing")
    same_need = _c("b", "2", conversation_id="c2", need="refund")
    conversations = {
        "c1": [other_need, _c("a-r", "3", "outbound", conversation_id="c1")],
        "c2": [same_need, _c("b-r", "4", "outbound", conversation_id="c2")],
    }
    ratings = {"c1": 1.0, "c2": 0.8}
    # The billing message is more similar, but the refund one is the asked need.
    reply = choose_reply(ASKED, [other_need, same_need], conversations, ratings)
    assert reply is not None and reply.reply_event_id == "b-r" and reply.rating == 0.8
    # Rated badly: the next one that ended well.
    reply = choose_reply(ASKED, [other_need, same_need], conversations, {"c1": 1.0, "c2": 0.4})
    assert reply is not None and reply.reply_event_id == "a-r"
    # Need unknown: similarity alone orders them.
    unknown = _c("q2", "9")
    reply = choose_reply(unknown, [other_need, same_need], conversations, ratings)
    assert reply is not None and reply.reply_event_id == "a-r"


def test_unrated_conversations_are_judged_by_the_last_predicted_satisfaction() -> None:
    first = _c("a", "1", conversation_id="c1", satisfaction=0.9)
    answer = _c("a-r", "2", "outbound", conversation_id="c1")
    last = _c("a2", "3", conversation_id="c1", satisfaction=0.2)  # the customer ended unhappy
    assert choose_reply(ASKED, [first], {"c1": [first, answer, last]}, {}) is None
    happy = _c("a2", "3", conversation_id="c1", satisfaction=0.75)
    reply = choose_reply(ASKED, [first], {"c1": [first, answer, happy]}, {})
    assert reply is not None and reply.rating is None and reply.predicted_satisfaction == 0.75


def test_no_reply_without_an_answer_after_the_similar_message() -> None:
    answer_before = _c("r", "1", "outbound", conversation_id="c1")
    message = _c("a", "2", conversation_id="c1")
    assert choose_reply(ASKED, [message], {"c1": [answer_before, message]}, {"c1": 1.0}) is None
    no_conversation = _c("x", "2")
    assert choose_reply(ASKED, [no_conversation], {}, {}) is None


def test_labelled_documents_hold_the_words_the_similarity_compares() -> None:
    texts = [LabelledText("r1", "2026-01-01T00:00:00Z", "我要退款", "refund")]
    [(event_id, document)] = labelled_documents(texts, ["zh"])
    assert event_id == "r1" and document["text_terms"] == "我要 退款"
    assert document["language"] == "zh" and document["direction"] == "inbound"
