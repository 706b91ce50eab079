"""Keywords: top TF-IDF terms against document frequencies learned online."""

from __future__ import annotations

from models.features import Example, OnlineTfidf
from models.keywords import KeywordExtractor


def test_rare_terms_beat_common_ones_after_learning() -> None:
    extractor = KeywordExtractor(k=3)
    for i in range(30):
        extractor.learn_one(Example(f"hello, question about order {i} please"))
    keywords = extractor.predict_one(Example("hello, question about my chargeback please"))
    assert keywords[0][0] == "chargeback"
    assert len(keywords) == 3
    scores = [score for _, score in keywords]
    assert scores == sorted(scores, reverse=True)


def test_keywords_change_as_document_frequencies_are_learned() -> None:
    extractor = KeywordExtractor(k=1)
    x = Example("refund refund delayed")
    assert extractor.predict_one(x)[0][0] == "refund"  # most frequent in the record
    for _ in range(20):
        extractor.learn_one(Example("refund request"))
    assert extractor.predict_one(x)[0][0] == "delayed"  # refund is everywhere now


def test_chinese_keywords_and_noise_filtering() -> None:
    extractor = KeywordExtractor(k=5)
    for _ in range(10):
        extractor.learn_one(Example("请帮我查一下订单", language="zh"))
    keywords = dict(extractor.predict_one(Example("订单 12345 退款 [EMAIL] 😡 t", language="zh")))
    assert "退款" in keywords
    assert next(iter(keywords)) == "退款"
    assert not {"<num>", "[email]", "😡", "t"} & set(keywords)
    assert extractor.predict_one(Example("")) == []


def test_document_frequencies_are_bounded() -> None:
    tfidf = OnlineTfidf(max_terms=100)
    for i in range(500):
        tfidf.learn([f"term{i}", "common"])
        assert len(tfidf.df) <= 100
    assert tfidf.df["common"] == 500
