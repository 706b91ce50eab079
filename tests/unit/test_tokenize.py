"""The shared tokenizer: English words, jieba for Chinese, mixed runs, placeholders, numbers."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import models.tokenize
from models.tokenize import NUMBER, han_grams, tokenize, tokenize_many


def test_english_words_are_lowercased_without_punctuation_and_stopwords() -> None:
    assert tokenize("The Seat was BROKEN, and the crew... ignored it!!!") == [
        "seat",
        "broken",
        "crew",
        "ignored",
    ]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("I do not like it", "not"),
        ("I will never fly with you again", "never"),
        ("I don't want it", "don't"),
        ("It can’t be that hard", "can't"),
        ("No refund yet", "no"),
        ("Nothing works", "nothing"),
    ],
)
def test_negations_are_kept(text: str, kept: str) -> None:
    assert kept in tokenize(text)


def test_apostrophes_inside_words_only() -> None:
    assert tokenize("'quoted' customers' bags o'clock") == [
        "quoted",
        "customers",
        "bags",
        "o'clock",
    ]


def test_chinese_is_segmented_by_jieba() -> None:
    tokens = tokenize("我要申请退款，快递三天了还没到")
    assert "退款" in tokens and "快递" in tokens and "申请" in tokens
    assert "，" not in tokens and "," not in tokens
    assert "了" not in tokens  # stopword


def test_chinese_negations_are_kept() -> None:
    assert tokenize("这家店的菜不好吃，没有下次了") == [
        "这家",
        "店",
        "菜",
        "不",
        "好吃",
        "没有",
        "下次",
    ]


def test_not_received_keeps_its_negation() -> None:
    # Plain jieba reads 没收到 as 没收 ("confiscate") + 到.
    assert tokenize("我还没收到货") == ["还", "没收到", "货"]


def test_mixed_text_segments_each_run_by_its_script() -> None:
    assert tokenize("我的iPhone屏幕碎了，please help") == ["iphone", "屏幕", "碎", "please", "help"]


def test_language_hint_does_not_change_segmentation() -> None:
    text = "退款 refund 还没到"
    assert (
        tokenize(text, "en")
        == tokenize(text, "zh")
        == tokenize(text)
        == [
            "退款",
            "refund",
            "还",
            "没到",
        ]
    )


def test_english_stopwords_only_for_english_chinese_or_unknown_text() -> None:
    assert tokenize("die Lieferung ist also da", "de") == ["die", "lieferung", "ist", "also", "da"]
    assert "also" not in tokenize("also the bag", "en")


def test_chinese_stopwords_are_kept_for_japanese() -> None:
    assert "是" in tokenize("是", "ja") and tokenize("是", "zh") == []


def test_placeholders_become_single_lowercase_tokens() -> None:
    assert tokenize("Mail me at [EMAIL] or call [PHONE], order [ORDER_ID]") == [
        "mail",
        "[email]",
        "call",
        "[phone]",
        "order",
        "[order_id]",
    ]
    assert tokenize("请联系[PHONE]") == ["请", "联系", "[phone]"]


def test_lowercase_brackets_are_not_placeholders() -> None:
    assert tokenize("[note] see below") == ["note", "see", "below"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("order 48213", ["order", NUMBER]),
        ("paid 12.50 on 2026-01-05 at 09:18", ["paid", NUMBER, NUMBER, NUMBER]),
        ("1,299 dollars", [NUMBER, "dollars"]),
        ("flight AA100", ["flight", "aa<num>"]),
        ("24h support", ["<num>h", "support"]),
        ("订单号1234567890", ["订单号", NUMBER]),
        ("ｏｒｄｅｒ　１２３", ["order", NUMBER]),
    ],
)
def test_numbers_become_a_shape_token(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


def test_order_numbers_do_not_grow_the_vocabulary() -> None:
    vocabulary = {token for i in range(1000) for token in tokenize(f"order {100000 + i} late")}
    assert vocabulary == {"order", NUMBER, "late"}


def test_emoji_are_tokens_and_punctuation_is_not() -> None:
    assert tokenize("great 👍🏽!!! ... ??? ✈️") == ["great", "👍", "✈"]


def test_empty_and_symbol_only_texts() -> None:
    assert tokenize("") == []
    assert tokenize(" ,.!?。，、—— ") == []


def test_tokenize_many_with_and_without_hints() -> None:
    texts = ["Refund please", "请退款", "die Bestellung"]
    assert tokenize_many(texts) == [["refund", "please"], ["请", "退款"], ["die", "bestellung"]]
    assert tokenize_many(texts, ["en", "zh", "de"])[2] == ["die", "bestellung"]
    assert tokenize_many([]) == []
    with pytest.raises(ValueError, match="hints"):
        tokenize_many(texts, ["en"])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.sampled_from([None, "en", "zh", "ja", "de", "und"]))
def test_any_text_tokenizes_without_error(text: str, language: str | None) -> None:
    tokens = tokenize(text, language)
    assert all(token and token == token.lower() for token in tokens)
    assert all(not token.isspace() for token in tokens)


def test_han_grams_of_han_runs_only() -> None:
    assert han_grams("送餐很快, great!") == ["送", "餐", "很", "快", "送餐", "餐很", "很快"]
    assert han_grams("好 吃") == ["好", "吃"]  # no n-gram across runs
    assert han_grams("café ☕ naïve") == [] and han_grams("") == []
    assert han_grams("⼀") == ["一"]  # a Kangxi radical, folded by NFKC as tokenize folds


def test_every_character_nfkc_folds_into_han_passes_the_quick_check() -> None:
    """han_grams skips text in which its quick check finds nothing: no character outside
    that check may become Han once NFKC-folded."""
    missed = [
        hex(code)
        for code in range(0x110000)
        if not models.tokenize._HAN_OR_COMPATIBLE.match(chr(code))
        and models.tokenize._HAN_RUN.search(unicodedata.normalize("NFKC", chr(code)))
    ]
    assert missed == []


ASCII_PIECES = [
    "[EMAIL]", "[ORDER_ID]", "[x]", "[A", "4821", "12.50", "2026-01-05", "09:18", "1.2a",
    "a320", "24h", "don't", "it's", "I'M", "THE", "'", "rock'n'roll", "_", "__init__", "x_1",
    "12,", ",5", "3/4", "-", " ", "\n", "!", "?", "#", "WILL", "will", "Refund", "q'",
]  # fmt: skip


@settings(max_examples=400)
@given(
    st.lists(st.sampled_from(ASCII_PIECES) | st.text(st.characters(max_codepoint=127))),
    st.sampled_from([None, "und", "en", "zh", "de", "ja"]),
)
def test_ascii_text_takes_the_general_path_s_tokens(pieces: list[str], language: str) -> None:
    """_tokenize's shortcut for ASCII text gives what the general tokenizer gives."""
    text = "".join(pieces)
    english = language in models.tokenize._ENGLISH_STOPWORD_HINTS
    assert models.tokenize._tokenize_ascii(text, english) == models.tokenize._tokenize_any(
        text, language
    )
