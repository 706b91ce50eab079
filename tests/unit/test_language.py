"""Language detection: English and Chinese first, short and mixed texts, placeholders, others."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.language import MODEL_LANGUAGES, detect_language, detect_languages


@pytest.mark.parametrize(
    "text",
    [
        "Where is my parcel?",
        "My flight got cancelled and nobody called me",
        "cancel my subscription pls",
        "WHERE IS MY REFUND",
        "Thanks!",
        "Hi",
        "yes",
        "refund?",
        "@united thanks for nothing https://t.co/abc123 #fail",
        "Flight AA1234 delayed 3 hrs, gate B12, seat 14C",
    ],
)
def test_english_short_texts(text: str) -> None:
    assert detect_language(text) == "en"


@pytest.mark.parametrize(
    "text",
    [
        "我要申请退款",
        "快递三天了还没到",
        "好的",
        "送餐很快，味道不错！",
        "客服态度太差了。。。",
        "请问什么时候发货？",
    ],
)
def test_chinese_short_texts(text: str) -> None:
    assert detect_language(text) == "zh"


@pytest.mark.parametrize(
    "text",
    [
        "我的iPhone 15 Pro Max屏幕碎了",
        "订单号 A12345678 还没发货",
        "请帮我查一下 order status",
        "AirPods Pro 降噪效果一般",
        "我的订单 #4821 在 2026-01-05 下的，到现在还没到",
    ],
)
def test_chinese_with_latin_product_names_and_numbers(text: str) -> None:
    assert detect_language(text) == "zh"


def test_english_quoting_one_chinese_word_is_english() -> None:
    assert detect_language("Please check the status of my order, it says 已发货 since Monday") == (
        "en"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[EMAIL] [PHONE] [ORDER_ID] please call me back at [PHONE]", "en"),
        ("Call me [PHONE]", "en"),
        ("[NAME] [EMAIL] 我的快递到哪了 [PHONE]", "zh"),
        ("请联系我 [PHONE] 或 [EMAIL]", "zh"),
        ("[EMAIL] [PHONE] [CARD]", "und"),
    ],
)
def test_placeholders_are_ignored(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hola, ¿dónde está mi pedido? Todavía no ha llegado.", "es"),
        ("Gracias", "es"),
        ("Bonjour, je n'ai toujours pas reçu ma commande.", "fr"),
        ("Merci beaucoup", "fr"),
        ("Meine Bestellung ist immer noch nicht angekommen.", "de"),
        ("Danke", "de"),
        ("Il mio ordine non è ancora arrivato", "it"),
        ("Meu pedido ainda não chegou", "pt"),
        ("Mijn bestelling is nog niet aangekomen", "nl"),
        ("Мой заказ до сих пор не пришёл", "ru"),
        ("注文した商品がまだ届きません", "ja"),
        ("ありがとうございます", "ja"),
        ("주문한 상품이 아직 도착하지 않았어요", "ko"),
        ("감사합니다", "ko"),
    ],
)
def test_other_languages_are_tagged(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "12345", "   ", "!!!", "😀😀😀", "2026-01-05 09:18", "https://example.com/a/b", "好", "x"],
)
def test_undetermined(text: str) -> None:
    assert detect_language(text) == "und"


def test_a_stray_kana_in_chinese_slang_stays_chinese() -> None:
    assert detect_language("我の天哪，这家太好吃了") == "zh"


def test_long_text_is_decided_from_its_start() -> None:
    assert detect_language("The seat was broken and nobody helped. " * 2000) == "en"


def test_batch_keeps_order() -> None:
    texts = ["Where is my refund?", "退款什么时候到账", "", "Wo ist meine Bestellung?"]
    assert detect_languages(texts) == ["en", "zh", "und", "de"]
    assert detect_languages([]) == []


def test_codes_are_iso_639_1() -> None:
    assert all(len(code) == 2 and code.islower() for code in MODEL_LANGUAGES)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gets_a_code_without_error(text: str) -> None:
    code = detect_language(text)
    assert code == "und" or code in MODEL_LANGUAGES
