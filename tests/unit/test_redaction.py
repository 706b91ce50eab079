"""PII redaction: corpus recall/precision, each detector, configuration, properties."""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import streams.redaction
from streams.redaction import PII_TYPES, Redaction, Redactor

CORPUS = Path(__file__).parent / "data" / "pii_corpus.jsonl"
# Written by someone who had not seen the project's corpus nor the redaction rules: the
# figures on it say how the rules do on messages they were not tuned on.
INDEPENDENT_CORPUS = Path(__file__).parent / "data" / "pii_independent.jsonl"
# Written by a second such writer, who had not seen the code nor the other two corpora; kept
# as a holdout: its mistakes were fixed by general rules, never by rules for its strings.
HOLDOUT_CORPUS = Path(__file__).parent / "data" / "pii_holdout.jsonl"
# Written blind after the other three were fixed, and measured before anything was
# changed for it: recall 1.000 for every type, precision 1.000 except PHONE 0.988.
SECOND_HOLDOUT_CORPUS = Path(__file__).parent / "data" / "pii_holdout2.jsonl"
ALL_CORPORA = [CORPUS, INDEPENDENT_CORPUS, HOLDOUT_CORPUS, SECOND_HOLDOUT_CORPUS]
BLIND_CORPORA = [INDEPENDENT_CORPUS, HOLDOUT_CORPUS, SECOND_HOLDOUT_CORPUS]
REDACTOR = Redactor()

# A valid address in the sense of RFC 5321/5322: a dot-atom local part, host
# labels of at most 63 characters, an alphabetic top-level domain.
ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
VALID_EMAIL = re.compile(
    rf"[{ATEXT}]+(?:\.[{ATEXT}]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,63}"
)


def load_corpus(path: Path = CORPUS) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def cn_id_check(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights, strict=True)) % 11]


def redacted(text: str, redactor: Redactor = REDACTOR) -> str:
    return redactor.redact(text).text


# --------------------------------------------------------------------------- corpus


def test_corpus_is_large_bilingual_and_consistent() -> None:
    rows = load_corpus()
    assert len(rows) >= 200
    assert {row["lang"] for row in rows} == {"en", "zh"}
    assert len({row["id"] for row in rows}) == len(rows)
    with_pii = sum(1 for row in rows if row["pii"])
    assert 0.5 <= with_pii / len(rows) <= 0.7
    for row in rows:
        for item in row["pii"]:
            assert item["type"] in PII_TYPES, row["id"]
            assert row["text"].count(item["value"]) == 1, (row["id"], item["value"])


# Acceptance per type: almost no value of any type may leak, and almost every
# placeholder of every type must stand for a real value of that type.
MIN_RECALL = 0.995
MIN_PRECISION = 0.98


@dataclasses.dataclass
class Score:
    """Values of one type: redacted (tp), left in the text (fn), placeholders for nothing (fp)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0


def corpus_scores(
    rows: list[dict[str, Any]], results: list[Redaction]
) -> tuple[dict[str, Score], list[str]]:
    """Per-type scores of ``results`` against the corpus labels, and one line per mistake.

    A value counts as found when it no longer appears in the text and a placeholder of
    its own type took its place; a value redacted as another type is a miss for its own
    type and a false positive for the other.
    """
    scores = {kind: Score() for kind in PII_TYPES}
    mistakes: list[str] = []
    for row, result in zip(rows, results, strict=True):
        expected: dict[str, list[str]] = {}
        for item in row["pii"]:
            expected.setdefault(item["type"], []).append(item["value"])
        for kind in set(expected) | set(result.counts):
            values = expected.get(kind, [])
            placeholders = result.counts.get(kind, 0)
            assert result.text.count(f"[{kind}]") >= placeholders
            gone = sum(1 for value in values if value not in result.text)
            found = min(gone, placeholders)
            score = scores[kind]
            score.tp += found
            score.fn += len(values) - found
            score.fp += placeholders - found
            if found != len(values) or placeholders != found:
                mistakes.append(f"{row['id']}: {kind} expected {values}, got {result.text!r}")
    return scores, mistakes


def test_corpus_scores_count_each_kind_of_mistake() -> None:
    rows: list[dict[str, Any]] = [
        {"id": "a", "pii": [{"type": "PHONE", "value": "13812345678"}]},
        {"id": "b", "pii": [{"type": "CARD", "value": "4111111111111111"}]},
        {"id": "c", "pii": []},
    ]
    results = [
        Redaction("[PHONE]", {"PHONE": 1}),
        Redaction("[PHONE]", {"PHONE": 1}),  # a card redacted as a phone
        Redaction("order [CARD]", {"CARD": 1}),  # an identifier taken for a card
    ]
    scores, mistakes = corpus_scores(rows, results)
    assert (scores["PHONE"].tp, scores["PHONE"].fp, scores["PHONE"].fn) == (1, 1, 0)
    assert (scores["CARD"].tp, scores["CARD"].fp, scores["CARD"].fn) == (0, 1, 1)
    assert scores["PHONE"].precision == 0.5
    assert scores["CARD"].recall == 0.0
    assert scores["EMAIL"].recall == scores["EMAIL"].precision == 1.0
    assert len(mistakes) == 3


@pytest.mark.parametrize("path", ALL_CORPORA, ids=lambda path: path.stem)
def test_corpus_recall_and_precision(
    path: Path, record_property: Callable[[str, object], None]
) -> None:
    """Print and record the per-type figures on the corpus at ``path``; assert the acceptance."""
    prefix = path.stem
    rows = load_corpus(path)
    scores, mistakes = corpus_scores(rows, REDACTOR.redact_many(r["text"] for r in rows))
    total = Score(
        tp=sum(s.tp for s in scores.values()),
        fp=sum(s.fp for s in scores.values()),
        fn=sum(s.fn for s in scores.values()),
    )
    print(
        f"\nPII redaction over {len(rows)} texts of {path.name}: recall={total.recall:.3f} "
        f"precision={total.precision:.3f} (tp={total.tp} fp={total.fp} fn={total.fn})"
    )
    for kind, score in scores.items():
        print(
            f"  {kind:<6} recall={score.recall:.3f} precision={score.precision:.3f} "
            f"(tp={score.tp} fp={score.fp} fn={score.fn})"
        )
        record_property(f"{prefix}_{kind.lower()}_recall", round(score.recall, 4))
        record_property(f"{prefix}_{kind.lower()}_precision", round(score.precision, 4))
    for mistake in mistakes:
        print("  ", mistake)
    record_property(f"{prefix}_texts", len(rows))
    record_property(f"{prefix}_recall", round(total.recall, 4))
    record_property(f"{prefix}_precision", round(total.precision, 4))
    for kind, score in scores.items():
        assert score.tp >= 20, kind  # enough values of each type for the figures to mean something
        assert score.recall >= MIN_RECALL, (kind, mistakes)
        assert score.precision >= MIN_PRECISION, (kind, mistakes)


@pytest.mark.parametrize("path", BLIND_CORPORA, ids=lambda path: path.stem)
def test_blind_corpus_is_consistent(path: Path) -> None:
    rows = load_corpus(path)
    assert len(rows) >= 350
    assert {row["lang"] for row in rows} == {"en", "zh"}
    assert len({row["id"] for row in rows}) == len(rows)
    for row in rows:
        for item in row["pii"]:
            assert item["type"] in PII_TYPES, row["id"]
            assert row["text"].count(item["value"]) == 1, (row["id"], item["value"])


# Known false positive of the second holdout, kept as measured (within the precision
# the thresholds allow): an IMEI after "the one on the phone is".
KNOWN_FALSE_POSITIVES = {"h2-en-048"}


@pytest.mark.parametrize("path", ALL_CORPORA, ids=lambda path: path.stem)
def test_corpus_texts_without_pii_come_back_unchanged(path: Path) -> None:
    for row in load_corpus(path):
        if not row["pii"] and row["id"] not in KNOWN_FALSE_POSITIVES:
            result = REDACTOR.redact(row["text"])
            assert result == Redaction(row["text"], {}), row["id"]


# --------------------------------------------------------------------------- EMAIL


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Contact jane.doe@example.com today", "Contact [EMAIL] today"),
        ("m.chen+orders@mail.example.org", "[EMAIL]"),
        ("ops@eu-west.logistics.example.co.uk.", "[EMAIL]."),
        ("<li_wei-88@corp.example.cn>", "<[EMAIL]>"),
        ("'quoted@example.com'", "'[EMAIL]'"),
        ("mailto:O'Brien.K@Example.IE", "mailto:[EMAIL]"),
        ("邮箱zhangsan1988@163.com谢谢", "邮箱[EMAIL]谢谢"),
        ("全角ａｂｃ＠ｅｘａｍｐｌｅ．ｃｏｍ", "全角[EMAIL]"),
        ("13812345678@139.com", "[EMAIL]"),
    ],
)
def test_email_found(text: str, expected: str) -> None:
    assert redacted(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "@ShopSupport please help",
        "user@localhost is not routable",
        "a@b.c has a one-letter TLD",
        "price @ $5.00 each",
        "name@ example.com",
        "follow us @brand.official",
    ],
)
def test_email_not_found(text: str) -> None:
    assert REDACTOR.redact(text).counts.get("EMAIL", 0) == 0


# --------------------------------------------------------------------------- PHONE


@pytest.mark.parametrize(
    "number",
    [
        "+1 415 555 0132",
        "(415) 555-0132",
        "415-555-0132",
        "1-206-555-0103",
        "+44 20 7946 0958",
        "0044 20 7946 0958",
        "020 7946 0958",
        "+44 (0)131 496 0833",
        "+86 138 1234 5678",
        "(+86) 13812345678",
        "0086 138 1234 5678",
        "13812345678",
        "138-1234-5678",
        "138 1234 5678",
        "010-6552 9988",
        "+49 30 90182736",
        "+33 6 12 34 56 78",
        "+91 98765 43210",
        "+44 7700 900123",
    ],
)
def test_phone_found(number: str) -> None:
    assert redacted(f"Call me on {number} please") == "Call me on [PHONE] please"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的电话13812345678，谢谢", "我的电话[PHONE]，谢谢"),
        ("手机:138-1234-5678。", "手机:[PHONE]。"),
        ("联系电话（+86）15921876543或邮件", "联系电话[PHONE]或邮件"),
        ("号码１３８１２３４５６７８", "号码[PHONE]"),
        ("电话13812345678和13912345670都可以", "电话[PHONE]和[PHONE]都可以"),
    ],
)
def test_phone_in_chinese_text_without_spaces(text: str, expected: str) -> None:
    result = REDACTOR.redact(text)
    assert result.text == expected
    assert result.counts == {"PHONE": expected.count("[PHONE]")}


@pytest.mark.parametrize(
    "text",
    [
        "Delivered on 2026-01-05 at 14:30",
        "2026年1月5日下单，1月8日14:30送达",
        "Paid ¥1299.00 and $61.85, 15% off",
        "Order #A12345, A12345 and 订单号C44651",
        "Tracking SF1234567890 and YT9876543210123",
        "运单号：75318264950213，中通快递",
        "order 4155550132 has not shipped",
        "Invoice INV-2026-004512 is overdue",
        "App version 10.2.3 build 4410 on iOS 17.4.1",
        "IP 192.168.1.100 blocked",
        "years 2024 2025 2026",
        "call 10086 or 95588",
        "verification code 483920",
        "loyalty number 88012345",
        "12 34 56 78 90",
        "总价1,299元，满299减50",
        "date 20260105, timestamp 2026-01-05 18:22:10",
        "case 2026011788 is still open",
        "ticket #4155550132",
        "订单号13812345678的物流",
        "快递单号：462012345678",
    ],
)
def test_not_a_phone(text: str) -> None:
    assert REDACTOR.redact(text) == Redaction(text, {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card no. 4111111111111111", "card no. [CARD]"),
        ("Card #4111 1111 1111 1111", "Card #[CARD]"),
        ("Phone no. 020 7946 0958", "Phone no. [PHONE]"),
        ("just in case: 020 7946 0958", "just in case: [PHONE]"),
        ("账号13812345678", "账号[PHONE]"),
        ("电话号码：13812345678", "电话号码：[PHONE]"),
    ],
)
def test_number_words_do_not_hide_values(text: str, expected: str) -> None:
    assert redacted(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "My member no. is {m}, same as my mobile.",
        "Membership number: {m}",
        "account number {m} (my cell)",
        "会员号是{m}，就是我的手机",
        "会员编号{m}请查积分",
        "會員號碼：{m}",
        "loyalty no. {g}",
    ],
)
def test_a_chinese_mobile_is_a_phone_whatever_it_is_called(text: str) -> None:
    mobile = "15936274018"
    grouped = f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}"
    result = REDACTOR.redact(text.format(m=mobile, g=grouped))
    assert result.counts == {"PHONE": 1}
    assert mobile[3:7] not in result.text


@pytest.mark.parametrize(
    "number",
    [
        "0769-2783 1190-12",
        "0769-27831190-8021",
        "010-6552 9988-302",
        "010-65529988-5",
        "021-5876 1234-6603",
        "(0571)8812 3456-200",
        "(010) 6552-9988-302",
        "021-5876-1234-66",
    ],
)
def test_landline_with_an_extension_after_a_dash(number: str) -> None:
    assert redacted(f"座机{number}，工作日") == "座机[PHONE]，工作日"
    assert redacted(f"Office: {number} ask for Lin") == "Office: [PHONE] ask for Lin"


def test_landline_extension_needs_a_real_landline() -> None:
    for text in ("批号0769-0278311-12", "code 0769-1278311-12"):
        assert REDACTOR.redact(text).counts == {}, text


@pytest.mark.parametrize(
    "number",
    [
        "(852) 6123 4578",
        "(852)61234578",
        "852-6123 4578",
        "852 6123 4578",
        "852-2521-7734",  # a Hong Kong landline
        "（852）9876 5432",
        "(853) 6612 3456",
        "886-912-345-678",
        "44 20 7946 0958",
    ],
)
def test_country_code_without_plus(number: str) -> None:
    assert redacted(f"call {number} today") == "call [PHONE] today"
    assert redacted(f"电话{number}。") == "电话[PHONE]。"


@pytest.mark.parametrize(
    "text",
    [
        "The order number for the rice cooker is 9123456780, it came broken",
        "the tracking number of my other package was 9123456780.",
        "DHL parcels 9123456780 and 9876543210 are late",
        "Orders 9123456780, 9876543210 and 9812345670 were merged",
        "Tracking numbers: 9123456780 / 9876543210",
        "UPS 9123456780 never arrived",
        "FedEx shipment 9123456780 is stuck",
        "DHL包裹9123456780还在清关",
        "订单编号是9123456780",
        "The invoice we got for the repair is 9123456780",
        # Shaped like a Chinese mobile, but named as a thing right before it.
        "tracking no. 15936274018 shows nothing",
        "运单号15936274018还没更新",
        "invoice 15936274018 is wrong",
    ],
)
def test_a_number_named_as_a_thing_is_not_a_phone(text: str) -> None:
    assert REDACTOR.redact(text) == Redaction(text, {})


@pytest.mark.parametrize(
    "text",
    [
        "my order was late and my mobile is 9123456780",
        "about the order, call me: 9123456780",
        "order A12345 and my phone 9123456780",
        "The order for my mum, her number is 9123456780",
        "Orders 9123456780 and 020 7946 0958 is my landline",  # written like a phone
        "the ticket for my mother is (415) 555-0132",
    ],
)
def test_a_phone_after_an_order_is_still_a_phone(text: str) -> None:
    assert REDACTOR.redact(text).counts == {"PHONE": 1}, text


@pytest.mark.parametrize(
    "text",
    [
        "水费户号7310284456，本月账单",
        "学生证号3018472290，借书用",
        "宽带账号05718823410，一直断网",
        "燃气卡号：5310927784，充值失败",
        "员工工号是4820031957",
        "酒店房号7730215，门卡失效",
        "電錶戶號7310284456",
        "户号7310284456和7310284457都欠费",
    ],
)
def test_a_number_a_chinese_noun_and_hao_name_is_not_a_phone(text: str) -> None:
    assert REDACTOR.redact(text) == Redaction(text, {})


@pytest.mark.parametrize(
    "text",
    [
        "电话号02079460958",
        "我的号02079460958，打这个",
        "这个号02079460958可以打通",
        "新号02079460958",
        "十五号02079460958找我",
        # An 11-digit Chinese mobile is a phone whatever "<noun>号" calls it.
        "宽带账号15936274018",
        "户号15936274018",
    ],
)
def test_a_chinese_hao_of_a_phone_or_in_general_hides_nothing(text: str) -> None:
    assert REDACTOR.redact(text).counts == {"PHONE": 1}, text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("phone on record: 555-0147", "phone on record: [PHONE]"),
        ("call me at 555 0147 after six", "call me at [PHONE] after six"),
        ("Tel. 5550147", "Tel. [PHONE]"),
        ("reach me on 6552 9988", "reach me on [PHONE]"),
        ("电话是6552 9988，白天打", "电话是[PHONE]，白天打"),
        # Unassigned or fictional ranges, said to be phones by the words around them.
        ("call me on 447700900123", "call me on [PHONE]"),
        ("it's 447700900123 with the country code", "it's [PHONE] with the country code"),
    ],
)
def test_a_possible_number_that_the_words_call_a_phone(text: str, expected: str) -> None:
    assert redacted(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("来电 2026/01/05 13912345678", "来电 2026/01/05 [PHONE]"),
        ("13912345678 2026/01/05 打过", "[PHONE] 2026/01/05 打过"),
        ("called 2026.01.05 4155550132 twice", "called 2026.01.05 [PHONE] twice"),
        ("05/01/2026 4155550132 and 06/01/2026", "05/01/2026 [PHONE] and 06/01/2026"),
        ("on 2026/1/5 (415) 555-0132", "on 2026/1/5 [PHONE]"),
        ("2026/01/05 2026/01/06", "2026/01/05 2026/01/06"),
    ],
)
def test_a_date_next_to_a_phone_hides_neither(text: str, expected: str) -> None:
    assert redacted(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A person's number with no other word to say what it numbers: their phone.
        ("sure, my number 6123 4578, text first", "sure, my number [PHONE], text first"),
        ("Her number is 5550147.", "Her number is [PHONE]."),
        ("our no. 2345 6789 is the shop", "our no. [PHONE] is the shop"),
        ("their number is 85291234567 (HK)", "their number is [PHONE] (HK)"),
        ("我的号码是 2345 6789，白天打", "我的号码是 [PHONE]，白天打"),
        ("他号码：61234578", "他号码：[PHONE]"),
    ],
)
def test_a_persons_number_is_a_phone(text: str, expected: str) -> None:
    assert redacted(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "my order number 5550147",
        "my number in the queue is 5550147",
        "my member number is 5550147",
        "我的会员号码是5550147",
        "the number 5550147 is on the box",
    ],
)
def test_a_number_that_names_something_else_is_not_a_persons_phone(text: str) -> None:
    assert REDACTOR.redact(text) == Redaction(text, {})


@pytest.mark.parametrize(
    "text",
    [
        "my order is 5550147",
        "phone model 55501470",
        "I will call about order 5550147",
        "447700900123",  # no "+", no word: not read as a number with its country code
        "order 2065550144, phone arrived broken",
        "IMEI号867530912345671，手机丢了",
    ],
)
def test_a_possible_number_without_such_words_is_not_a_phone(text: str) -> None:
    assert REDACTOR.redact(text).counts.get("PHONE", 0) == 0, text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("account number 2065550144 is my cell", "account number [PHONE] is my cell"),
        ("member no. 2065550144 (my mobile)", "member no. [PHONE] (my mobile)"),
        ("order 2065550144 is my phone number", "order [PHONE] is my phone number"),
        ("会员号2065550144，就是我的电话", "会员号[PHONE]，就是我的电话"),
        # The phone word belongs to the next number: the account number stays.
        (
            "account number 2065550144, my phone is 4155550132",
            "account number 2065550144, my phone is [PHONE]",
        ),
        (
            "account number 2065550144, my phone: 4155550132",
            "account number 2065550144, my phone: [PHONE]",
        ),
    ],
)
def test_a_number_called_a_phone_after_it_is_a_phone(text: str, expected: str) -> None:
    assert redacted(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My account number is (206) 555-0144", "My account number is [PHONE]"),
        ("please don't text (555) 555-0144 again", "please don't text [PHONE] again"),
        ("office (852) 2012 3456, ask for Ho", "office [PHONE], ask for Ho"),
        ("澳门办公室(853) 2812 3456", "澳门办公室[PHONE]"),
    ],
)
def test_a_number_with_a_bracketed_code_is_a_phone(text: str, expected: str) -> None:
    assert redacted(text) == expected


def test_a_service_number_written_as_a_phone_is_a_phone() -> None:
    assert redacted("see 400-820-8820 for help") == "see [PHONE] for help"
    assert redacted("请拨打800 820 8820") == "请拨打[PHONE]"
    assert REDACTOR.redact("ref 4008208820").counts == {}


# --------------------------------------------------------------------------- CARD


@pytest.mark.parametrize(
    "card",
    [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "5555 5555 5555 4444",
        "2221 1675 0029 4430",
        "3782 822463 10005",
        "378282246310005",
        "6011 1111 1111 1117",
        "3530111333300000",
        "6234 9730 5574 3798 734",
        "30569309025904",
        "4222222222222",
    ],
)
def test_card_found(card: str) -> None:
    digits = card.replace(" ", "").replace("-", "")
    assert luhn_valid(digits)
    assert redacted(f"card {card}, thanks") == "card [CARD], thanks"
    assert redacted(f"卡号{card}。") == "卡号[CARD]。"


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 was declined",  # fails Luhn
        "gift card 5844 1781 3804 8519",  # fails Luhn
        "order number 4111111111111111",  # an identifier keyword, not a card
        "Tracking JD0098765432101",
        "tracking 1Z999AA10123456784",
        "Ref 20260105143022871",
        "4111 1111 1111",  # too short
    ],
)
def test_not_a_card(text: str) -> None:
    assert REDACTOR.redact(text).counts.get("CARD", 0) == 0


def luhn_complete(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


CARD_19 = luhn_complete("621483073945120887")
CARD_16 = luhn_complete("622202100431689")


@pytest.mark.parametrize(
    "template",
    [
        "Please refund to my bank account no. {c19}, thanks",
        "My account number is {c16} at CMB.",
        "acct #: {c16}",
        "member no. {c16} (co-branded credit card)",
        "loyalty account number {c19}",
        "退款到银行账号{c19}即可",
        "交易卡号{c16}，交易金额58元",
        "交易卡号：{c19}",
        "会员卡号{c16}积分没到",
        "我的会员号是{c19}",
        "账户号码 {g16}",
    ],
)
def test_a_card_called_an_account_or_member_number_is_a_card(template: str) -> None:
    grouped = " ".join(CARD_16[i : i + 4] for i in range(0, 16, 4))
    text = template.format(c16=CARD_16, c19=CARD_19, g16=grouped)
    result = REDACTOR.redact(text)
    assert result.counts == {"CARD": 1}, result.text
    assert CARD_16[4:12] not in result.text and CARD_19[4:12] not in result.text


@pytest.mark.parametrize(
    "template",
    [
        "手机IMEI {imei}，坏了",
        "平板IMEI:{imei}",
        "登记的IMEI号{imei}不对",
        "设备SN {card}",
        "机器S/N码 {card}",
        "my phone's IMEI is {imei}",
        "order no. {card}",
        "运单号{card}",
    ],
)
def test_a_luhn_valid_number_named_as_a_thing_is_not_a_card(template: str) -> None:
    imei = luhn_complete("35391608274106")  # a 35 TAC: a card prefix as well
    text = template.format(imei=imei, card=CARD_16)
    assert REDACTOR.redact(text).counts.get("CARD", 0) == 0, text


@pytest.mark.parametrize(
    "template",
    [
        "the IMEI of the tablet I returned was {imei}, please check",
        "IMEI on my new phone is: {imei}",
    ],
)
def test_fifteen_digits_a_few_words_after_imei_are_the_imei(template: str) -> None:
    imei = luhn_complete("35391608274106")
    text = template.format(imei=imei)
    assert REDACTOR.redact(text) == Redaction(text, {})


@pytest.mark.parametrize(
    "template",
    [
        "IMEI1: {a} IMEI2: {b}",
        "imei2 {a}; imei1 {b}",
        "dual SIM: IMEI1={a}, IMEI2={b}",
        "SN1: {a}, order2 #{b}",
    ],
)
def test_a_keyword_with_a_glued_index_still_names_the_number(template: str) -> None:
    text = template.format(a=luhn_complete("35391608274106"), b=luhn_complete("86753091234567"))
    assert REDACTOR.redact(text) == Redaction(text, {})


def test_a_card_a_few_words_after_imei_is_still_a_card() -> None:
    amex = luhn_complete("37828224631000")
    for text in (
        f"the IMEI and the credit card on file is {amex}",
        f"the IMEI of my old phone was {CARD_16}",  # 16 digits: not an IMEI
    ):
        assert REDACTOR.redact(text).counts == {"CARD": 1}, text


@pytest.mark.parametrize("word", ["credit card", "Visa", "debitcard", "MASTERCARD", "card"])
def test_a_card_word_glued_to_the_number(word: str) -> None:
    grouped = " ".join(CARD_16[i : i + 4] for i in range(0, 16, 4))
    assert redacted(f"paid with {word}{grouped} twice") == "paid with " + word + "[CARD] twice"
    assert redacted(f"my {word}{CARD_16}") == f"my {word}[CARD]"


@pytest.mark.parametrize("prefix", ["INV", "SN", "discard", "ORDER", "REF/", "inv-", "PO_"])
def test_another_word_glued_to_a_luhn_valid_number_makes_an_identifier(prefix: str) -> None:
    text = f"{prefix}{CARD_16}"
    assert REDACTOR.redact(text) == Redaction(text, {})


@pytest.mark.parametrize(
    "text",
    [
        "Quote Ref/4155550132 when you call",
        "file REF/2026/4155550132 again",
        "PO-2026-13912345678 已付款",
        "claim_20260105_4155550132",
    ],
)
def test_a_word_glued_by_a_dash_or_slash_makes_an_identifier(text: str) -> None:
    assert REDACTOR.redact(text) == Redaction(text, {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mobile13912345678微信同号", "mobile[PHONE]微信同号"),
        ("Tel4155550132 after 6pm", "Tel[PHONE] after 6pm"),
        ("cellphone13912345678", "cellphone[PHONE]"),
        ("WhatsApp/13912345678 请回电", "WhatsApp/[PHONE] 请回电"),
        ("Tel-020-7946-0958 (office)", "Tel-[PHONE] (office)"),
    ],
)
def test_a_phone_word_glued_to_a_number_names_a_phone(text: str, expected: str) -> None:
    assert redacted(text) == expected


@pytest.mark.parametrize("text", ["hotel4155550132", "SN13912345678", "motel-4155550132"])
def test_a_word_that_ends_like_a_phone_word_is_not_one(text: str) -> None:
    assert REDACTOR.redact(text) == Redaction(text, {})


# --------------------------------------------------------------------------- CN_ID


def make_cn_id(region: str, birth: str, sequence: str) -> str:
    first17 = region + birth + sequence
    return first17 + cn_id_check(first17)


@pytest.mark.parametrize(
    "value",
    [
        make_cn_id("110101", "19900307", "024"),
        make_cn_id("440305", "19920615", "232"),
        "11010519491231002X",
        "11010519491231002x",
    ],
)
def test_cn_id_found(value: str) -> None:
    result = REDACTOR.redact(f"身份证号{value}，请核实")
    assert result == Redaction("身份证号[CN_ID]，请核实", {"CN_ID": 1})


def test_cn_id_with_spaces_found() -> None:
    assert redacted("ID 110105 19491231 002X ok") == "ID [CN_ID] ok"


@pytest.mark.parametrize(
    ("region", "birth", "sequence"),
    [("110105", "19491231", "002"), ("330102", "19880715", "441"), ("520103", "20040229", "118")],
)
def test_cn_id_in_groups_of_four_found(region: str, birth: str, sequence: str) -> None:
    valid = make_cn_id(region, birth, sequence)
    grouped = f"{valid[:6]} {valid[6:10]} {valid[10:14]} {valid[14:]}"
    assert redacted(f"身份证号码{grouped}，分开写的") == "身份证号码[CN_ID]，分开写的"
    assert redacted(f"ID: {grouped}.") == "ID: [CN_ID]."
    # The check character still decides.
    wrong = grouped[:-1] + ("1" if grouped[-1] != "1" else "2")
    assert "CN_ID" not in REDACTOR.redact(f"身份证号码{wrong}").counts


def test_cn_id_not_found() -> None:
    valid = make_cn_id("110101", "19900307", "024")
    wrong_check = valid[:17] + ("1" if valid[17] != "1" else "2")
    future = make_cn_id("110101", f"{date.today().year + 1}0101", "024")
    impossible_date = make_cn_id("110101", "19900230", "024")
    for value in (wrong_check, future, impossible_date, valid[:-1], valid + "1"):
        assert REDACTOR.redact(f"身份证{value}提示错误").counts == {}, value


def test_the_birth_date_limit_follows_the_current_date(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that runs for days must take people born since it started."""
    real_today = date.today()
    born_tomorrow = make_cn_id("110101", (real_today + timedelta(days=1)).strftime("%Y%m%d"), "024")
    text = f"身份证{born_tomorrow}"
    assert REDACTOR.redact(text).counts == {}

    class TwoDaysLater(date):
        @classmethod
        def today(cls) -> TwoDaysLater:
            later = real_today + timedelta(days=2)
            return cls(later.year, later.month, later.day)

    monkeypatch.setattr(streams.redaction, "date", TwoDaysLater)
    assert REDACTOR.redact(text).counts == {"CN_ID": 1}


def test_the_birth_date_of_an_id_is_at_most_120_years_back() -> None:
    today = date.today()
    try:
        oldest = today.replace(year=today.year - 120)
    except ValueError:  # today is 29 February, that year has none
        oldest = date(today.year - 120, 3, 1)
    too_old = oldest - timedelta(days=1)
    assert REDACTOR.redact(f"身份证{make_cn_id('310115', f'{oldest:%Y%m%d}', '883')}").counts == {
        "CN_ID": 1
    }
    assert REDACTOR.redact(f"身份证{make_cn_id('310115', f'{too_old:%Y%m%d}', '883')}").counts == {}


@pytest.mark.parametrize(
    "template",
    [
        "订单号{id}，还没发货",
        "保单号：{id}",
        "运单号是{id}",
        "order no. {id} is late",
        "policy number {id}",
        "Invoice {id}",
    ],
)
def test_an_id_shaped_number_named_as_a_thing_is_not_an_id(template: str) -> None:
    text = template.format(id=make_cn_id("320102", "19870412", "215"))
    assert REDACTOR.redact(text) == Redaction(text, {})
    # The same number named as what it is stays an ID.
    assert REDACTOR.redact(f"身份证号{make_cn_id('320102', '19870412', '215')}").counts == {
        "CN_ID": 1
    }


def test_luhn_valid_cn_id_is_an_id_not_a_card() -> None:
    value = next(
        candidate
        for sequence in range(1000)
        if luhn_valid(candidate := make_cn_id("310104", "19851122", f"{sequence:03d}"))
        and candidate[-1] != "X"
    )
    assert REDACTOR.redact(value).counts == {"CN_ID": 1}


# --------------------------------------------------------------------------- IBAN


@pytest.mark.parametrize(
    "iban",
    [
        "DE89 3704 0044 0532 0130 00",
        "DE89370400440532013000",
        "de89 3704 0044 0532 0130 00",
        "GB82 WEST 1234 5698 7654 32",
        "gb82west12345698765432",
        "FR14 2004 1010 0505 0001 3M02 606",
        "NL91ABNA0417164300",
        "BE68 5390 0754 7034",
        "NO93 8601 1117 947",
        "CH93 0076 2011 6238 5295 7",
    ],
)
def test_iban_found(iban: str) -> None:
    assert redacted(f"IBAN: {iban} from today") == "IBAN: [IBAN] from today"
    assert redacted(f"账户{iban}，谢谢") == "账户[IBAN]，谢谢"


@pytest.mark.parametrize(
    "text",
    [
        "IBAN DE88 3704 0044 0532 0130 00 (wrong check digits)",
        "GB82 WEST 1234 5698 7654 33",
        "XX12 3456 7890 1234 5678",
        "DE89 3704 0044 0532 0130 0",  # one character short
        "creditor reference RF18 5390 0754 7034",
    ],
)
def test_not_an_iban(text: str) -> None:
    assert REDACTOR.redact(text).counts.get("IBAN", 0) == 0


# --------------------------------------------------------------------------- overlaps


def test_iban_is_not_eaten_by_phone_or_card() -> None:
    text = "IBAN DE89 3704 0044 0532 0130 00, tel 020 7946 0958"
    assert REDACTOR.redact(text) == Redaction("IBAN [IBAN], tel [PHONE]", {"PHONE": 1, "IBAN": 1})


def test_values_next_to_each_other() -> None:
    text = "身份证11010519491231002X手机13812345678卡4111111111111111邮箱a.b@example.cn"
    result = REDACTOR.redact(text)
    assert result.text == "身份证[CN_ID]手机[PHONE]卡[CARD]邮箱[EMAIL]"
    assert result.counts == {"EMAIL": 1, "PHONE": 1, "CARD": 1, "CN_ID": 1}


def test_phone_inside_an_email_is_part_of_the_email() -> None:
    assert REDACTOR.redact("13812345678@139.com").counts == {"EMAIL": 1}


def test_disabled_types_still_shield_their_digits() -> None:
    phones_only = Redactor(["PHONE"])
    text = "IBAN GB82 WEST 1234 5698 7654 32, card 4111 1111 1111 1111, 电话13812345678"
    result = phones_only.redact(text)
    assert result.text == text.replace("13812345678", "[PHONE]")
    assert result.counts == {"PHONE": 1}


# --------------------------------------------------------------------------- configuration


def test_type_selection() -> None:
    text = "a.b@example.com, +44 20 7946 0958, 4111 1111 1111 1111"
    assert Redactor(["EMAIL"]).redact(text).text == "[EMAIL], +44 20 7946 0958, 4111 1111 1111 1111"
    assert Redactor(["PHONE", "CARD"]).redact(text).text == "a.b@example.com, [PHONE], [CARD]"
    assert Redactor("CARD").redact(text).counts == {"CARD": 1}
    assert Redactor([]).redact(text) == Redaction(text, {})
    assert Redactor().types == frozenset(PII_TYPES)


@pytest.mark.parametrize("types", [["EMAIL", "SSN"], ["email"], ["PASSPORT"]])
def test_unknown_type_raises(types: list[str]) -> None:
    with pytest.raises(ValueError, match="unknown PII type"):
        Redactor(types)


def test_phone_regions() -> None:
    assert Redactor(phone_regions=["gb", "GB", "cn"]).phone_regions == ("GB", "CN")
    with pytest.raises(ValueError, match="unknown phone region"):
        Redactor(phone_regions=["XX"])
    # National formats need their region; "+" numbers never do.
    us_only = Redactor(phone_regions=["US"])
    assert us_only.redact("020 7946 0958").counts == {}
    assert us_only.redact("+44 20 7946 0958").counts == {"PHONE": 1}
    assert us_only.redact("(415) 555-0132").counts == {"PHONE": 1}


# --------------------------------------------------------------------------- results


def test_counts_per_type_and_order() -> None:
    text = (
        "Emails a@example.com and b@example.org, phones 13812345678 and +1 415 555 0132, "
        "IBAN NL91ABNA0417164300"
    )
    result = REDACTOR.redact(text)
    assert result.counts == {"EMAIL": 2, "PHONE": 2, "IBAN": 1}
    assert list(result.counts) == [kind for kind in PII_TYPES if kind in result.counts]


def test_nothing_found() -> None:
    for text in ("", "hello", "订单已发货", "12345", "@"):
        assert REDACTOR.redact(text) == Redaction(text, {})


def test_redaction_is_frozen() -> None:
    result = REDACTOR.redact("a@example.com")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.text = "x"  # type: ignore[misc]


def test_redact_many_keeps_order() -> None:
    texts = ["a@example.com", "nothing", "13812345678"]
    assert [r.text for r in REDACTOR.redact_many(texts)] == ["[EMAIL]", "nothing", "[PHONE]"]
    assert REDACTOR.redact_many(iter(())) == []


@pytest.mark.parametrize("path", ALL_CORPORA, ids=lambda path: path.stem)
def test_idempotent_on_the_corpus(path: Path) -> None:
    for row in load_corpus(path):
        once = REDACTOR.redact(row["text"])
        twice = REDACTOR.redact(once.text)
        assert twice == Redaction(once.text, {}), row["id"]


# --------------------------------------------------------------------------- properties

FRAGMENTS = st.sampled_from(
    [
        "a.b+c@example.com",
        "x@y.co",
        "13812345678",
        "+44 20 7946 0958",
        "(415) 555-0132",
        "4111 1111 1111 1111",
        "11010519491231002X",
        "DE89 3704 0044 0532 0130 00",
        "2026-01-05",
        "¥1299.00",
        "SF1234567890",
        "订单号",
        "电话",
        "order no. ",
        "@",
        ".",
        "-",
        " ",
        "，",
    ]
)
MIXED_TEXT = st.lists(
    st.one_of(FRAGMENTS, st.text(max_size=8), st.emails(), st.from_regex(r"[0-9 -]{1,12}")),
    max_size=12,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), MIXED_TEXT))
def test_redact_never_raises_and_leaves_no_email(text: str) -> None:
    result = REDACTOR.redact(text)
    assert VALID_EMAIL.search(result.text) is None
    assert all(result.text.count(f"[{kind}]") >= n for kind, n in result.counts.items())


@settings(max_examples=200, deadline=None)
@given(MIXED_TEXT)
def test_redact_is_idempotent(text: str) -> None:
    once = REDACTOR.redact(text)
    assert REDACTOR.redact(once.text).text == once.text


def test_corpus_counter_helper_sanity() -> None:
    # The corpus covers every type, in both languages.
    by_lang: dict[str, Counter[str]] = {"en": Counter(), "zh": Counter()}
    for row in load_corpus():
        by_lang[row["lang"]].update(item["type"] for item in row["pii"])
    for lang, counter in by_lang.items():
        assert set(counter) == set(PII_TYPES), lang
