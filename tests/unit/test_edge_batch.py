"""The edge's batch path and its exact shortcuts give what the one-by-one reference gives.

The reference is the edge as it was before: each message alone (``parse_event``,
``normalize_text``, ``Redactor.redact``, ``truncate_text``, ``detect_language``,
``model_dump`` and a new record), with the shortcuts of normalization and redaction
switched off (:func:`reference_paths`). The fast path must give the same records and
the same dead letters on realistic batches: generated English and Chinese
conversations with PII, HTML e-mails, producer language hints, short and
multilingual texts, and malformed messages.
"""

from __future__ import annotations

import html
import random
import re
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import streams.language as language
import streams.normalize as normalize
import streams.redaction as redaction
from crmstream.generator import EventGenerator
from schemas.events import CommunicationEvent, FeedbackEvent, ScoredCommunication, TextInfo
from schemas.parsing import EdgeLimits, InvalidEvent, parse_event
from streams.language import detect_language, detect_languages
from streams.normalize import normalize_text, truncate_text
from streams.pipeline import Accepted, BatchResult, Edge, EdgeConfig, Incoming, dead_letter

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
NOW = START + timedelta(days=60)
EDGE = Edge(EdgeConfig(limits=EdgeLimits(text_max_bytes=64 * 1024), text_budget_chars=1500))

# --------------------------------------------------------------------------- corpus

# A few words per language, enough for the model to have something to weigh.
WORDS: dict[str, str] = {
    "en": "my order has not arrived yet and nobody answers the phone please refund me now",
    "es": "mi pedido todavía no ha llegado y nadie contesta el teléfono quiero un reembolso",
    "fr": "ma commande n'est toujours pas arrivée et personne ne répond je veux être remboursé",
    "de": "meine Bestellung ist noch nicht angekommen und niemand geht ans Telefon bitte",
    "it": "il mio ordine non è ancora arrivato e nessuno risponde al telefono vorrei un rimborso",
    "pt": "meu pedido ainda não chegou e ninguém atende o telefone quero o reembolso agora",
    "nl": "mijn bestelling is nog steeds niet aangekomen en niemand neemt de telefoon op",
    "pl": "moje zamówienie jeszcze nie dotarło i nikt nie odbiera telefonu proszę o zwrot",
    "tr": "siparişim hâlâ gelmedi ve kimse telefona cevap vermiyor lütfen paramı iade edin",
    "sv": "min beställning har fortfarande inte kommit och ingen svarar i telefonen",
    "cs": "moje objednávka ještě nedorazila a nikdo nebere telefon prosím o vrácení peněz",
    "ro": "comanda mea nu a sosit încă și nimeni nu răspunde la telefon vreau banii înapoi",
    "vi": "đơn hàng của tôi vẫn chưa đến và không ai nghe điện thoại xin hoàn tiền",
    "id": "pesanan saya belum sampai dan tidak ada yang mengangkat telepon tolong kembalikan uang",
    "ru": "мой заказ до сих пор не пришёл и никто не отвечает на звонки верните деньги",
    "uk": "моє замовлення досі не прийшло і ніхто не відповідає на дзвінки поверніть гроші",
    "el": "η παραγγελία μου δεν έχει φτάσει ακόμα και κανείς δεν απαντά στο τηλέφωνο",
    "ar": "طلبي لم يصل بعد ولا أحد يرد على الهاتف أريد استرداد المبلغ",
    "he": "ההזמנה שלי עדיין לא הגיעה ואף אחד לא עונה לטלפון אני רוצה החזר",
    "fa": "سفارش من هنوز نرسیده و هیچ کس تلفن را جواب نمی دهد لطفا پولم را برگردانید",
    "hi": "मेरा ऑर्डर अभी तक नहीं आया और कोई फोन नहीं उठाता कृपया पैसे वापस करें",
    "th": "คำสั่งซื้อของฉันยังไม่มาถึง และไม่มีใครรับโทรศัพท์ ขอเงินคืนด้วย",
    "ja": "注文した 商品が まだ 届きません 誰も 電話に 出ません 返金して ください",
    "ko": "주문한 상품이 아직 도착하지 않았고 아무도 전화를 받지 않아요 환불해 주세요",
    "zh": "我的 订单 还 没有 到 也 没有 人 接 电话 请 给 我 退款",
}
NOISE = [
    "[EMAIL]", "[PHONE]", "[ORDER_ID]", "https://t.co/abc123", "www.shop.example/x",
    "jane.doe@example.com", "@united", "&amp;", "&#8217;", "4821", "2026-01-05", "#fail",
    "😀", "!!!", "iPhone 15", "退款", "WHERE IS IT", "don't", "l'ordre", "'", "’",
]  # fmt: skip
SHORT = [
    "ok",
    "好",
    "Hallo",
    "yes",
    "refund?",
    "Danke",
    "[PHONE]",
    "12345",
    "",
    "👍",
    "x",
    "Gracias",
]


def synthetic_texts(seed: int, count: int) -> list[str]:
    """Texts in many languages and scripts, some mixed, noisy, shouted, short or long."""
    rng = random.Random(seed)
    texts: list[str] = []
    for _ in range(count):
        if rng.random() < 0.08:
            texts.append(rng.choice(SHORT))
            continue
        lang, other = rng.sample(sorted(WORDS), 2)
        words = WORDS[lang].split()
        picked = [rng.choice(words) for _ in range(rng.choice([1, 2, 3, 4, 6, 12, 30, 80]))]
        if rng.random() < 0.3:  # another language mixed in
            picked += rng.sample(WORDS[other].split(), 2)
        for _ in range(rng.choice([0, 0, 1, 3])):
            picked.insert(rng.randrange(len(picked) + 1), rng.choice(NOISE))
        text = " ".join(picked)
        if rng.random() < 0.1:
            text = text.upper()
        if rng.random() < 0.05:
            text = text * 200  # past the model's 2,000 characters
        texts.append(text)
    return texts + SHORT


DROP = object()
# Fields a record has and an event has not (a producer may send them: they are ignored),
# values the contract refuses, and optional fields left out.
ODD_FIELDS: list[tuple[str, Any]] = [
    ("keywords", "zzz"), ("satisfaction", "bad"), ("processed_at", "x"), ("text_info", 5),
    ("source", None), ("schema_version", 2), ("need_source", "oracle"),
    ("language", "x" * 17), ("language", 3), ("language", "pt-BR"), ("subject", 5),
    ("subject", ""), ("text", 42), ("text", ""), ("channel", "EMAIL"), ("channel", ["chat"]),
    ("event_id", ""), ("metadata", "none"), ("direction", "sideways"), ("priority", "P9"),
    ("occurred_at", "2026-01-05T08:00:00"), ("conversation_id", DROP), ("metadata", DROP),
    ("language", DROP), ("subject", DROP), ("need", DROP), ("text", DROP),
]  # fmt: skip


def html_email(text: str) -> str:
    paragraphs = "".join(f"<p>{html.escape(line)}<br></p>" for line in text.split("\n") if line)
    return f"<html><body><div>{paragraphs}</div></body></html>"


def realistic_messages(seed: int, count: int) -> tuple[list[Incoming], list[Incoming]]:
    """Communications and feedback as Kafka messages: generated conversations (English and
    Chinese, with PII), HTML e-mails, hints, multilingual texts and broken messages."""
    rng = random.Random(seed)
    extra = iter(synthetic_texts(seed, count))
    communications: list[Incoming] = []
    feedback: list[Incoming] = []
    for n, event in enumerate(EventGenerator(seed, start=START, zh_share=0.4).events(count)):
        value: dict[str, Any] = dict(event.value)
        if event.kind == "communication":
            roll = rng.random()
            if value["channel"] == "email" and roll < 0.4:
                value["text"] = html_email(value["text"])
            elif roll < 0.12:
                value["text"] = next(extra, "ok")
            if rng.random() < 0.15:
                value["subject"] = rng.choice(["Re: order", "Call 13812345678", "a@b.com", "  "])
            hint = rng.random()
            if hint < 0.1:
                value["language"] = rng.choice(["en", "zh", "de"])
            elif hint < 0.4:
                value.pop("language", None)
        elif value.get("comment") is not None and rng.random() < 0.3:
            value["comment"] = next(extra, "")
        raw: bytes | None = orjson.dumps(value)
        broken = rng.random()
        if broken < 0.02:
            raw = rng.choice([b"\xff\xfe{", b"{oops", b"[1, 2]", None, b"", b'"text"'])
        elif broken < 0.04:
            value.pop(rng.choice(["text", "occurred_at", "customer_id", "score", "event_id"]), 0)
            value["channel"] = rng.choice([value.get("channel", "chat"), "fax"])
            raw = orjson.dumps(value)
        elif broken < 0.05:
            raw = orjson.dumps({**value, "occurred_at": "2030-01-01T00:00:00Z"})
        elif broken < 0.055 and "text" in value:
            raw = orjson.dumps({**value, "text": "x" * (70 * 1024)})
        elif broken < 0.15:  # one field the contract refuses, or keys it ignores
            field, bad = rng.choice(ODD_FIELDS)
            raw = orjson.dumps({**value, field: bad} if bad is not DROP else value)
            if bad is DROP:
                raw = orjson.dumps({k: v for k, v in value.items() if k != field})
        message = Incoming(raw, event.key.encode(), f"crm.{event.kind}", n % 3, n)
        (communications if event.kind == "communication" else feedback).append(message)
    return communications, feedback


COMMUNICATIONS, FEEDBACK = realistic_messages(11, 1500)

# --------------------------------------------------------------------------- reference


@contextmanager
def reference_paths() -> Iterator[None]:
    """Normalization and redaction with their shortcuts switched off: every substitution
    and every detector runs, as they did before the shortcuts."""
    patch = pytest.MonkeyPatch()
    patch.setattr(normalize, "_needs_spacing_work", lambda text: True)
    patch.setattr(redaction, "_may_hold_address", lambda folded: "@" in folded)
    patch.setattr(redaction, "_IBAN_START", re.compile(""))
    patch.setattr(redaction, "_ascii_digits", lambda text: 10**9)
    try:
        yield
    finally:
        patch.undo()


def reference_clean_text(edge: Edge, text: str, channel: str) -> tuple[str, TextInfo]:
    normalized = normalize_text(text, channel=channel, budget_chars=None)
    redacted = edge.redactor.redact(normalized.text)
    kept, truncated = truncate_text(redacted.text, edge.config.text_budget_chars)
    return kept, TextInfo(
        original_chars=len(redacted.text), truncated=truncated, pii=redacted.counts
    )


def reference_batch(edge: Edge, messages: list[Incoming], kind: str) -> BatchResult[Any]:
    """The edge of before: each message alone, the language of each text alone."""
    result: BatchResult[Any] = BatchResult()
    limits = edge.config.limits
    for message in messages:
        try:
            record: Any
            if kind == "communication":
                event = parse_event(message.value, CommunicationEvent, now=NOW, limits=limits)
                text, info = reference_clean_text(edge, event.text, event.channel.value)
                subject = (
                    reference_clean_text(edge, event.subject, "other")[0]
                    if event.subject
                    else event.subject
                )
                fields = event.model_dump()
                detected = detect_language(text)
                hint = event.language
                fields.update(
                    text=text,
                    subject=subject,
                    language=hint if detected == "und" and hint else detected,
                )
                record = ScoredCommunication(
                    **fields, processed_at=NOW, source=message.position, text_info=info
                )
            else:
                record = parse_event(message.value, FeedbackEvent, now=NOW, limits=limits)
                if record.comment:
                    comment = reference_clean_text(edge, record.comment, "other")[0]
                    update = {"comment": comment, "language": detect_language(comment)}
                    record = record.model_copy(update=update)
        except InvalidEvent as invalid:
            result.dead.append(dead_letter(message, invalid.reason, invalid.message, now=NOW))
        except Exception as error:
            result.dead.append(dead_letter(message, "processing_error", repr(error), now=NOW))
        else:
            result.accepted.append(Accepted(message, record))
    return result


def dumped(result: BatchResult[Any]) -> tuple[list[Any], list[Any]]:
    return (
        [(a.message, a.record.model_dump(), a.record.model_fields_set) for a in result.accepted],
        [d.model_dump() for d in result.dead],
    )


# --------------------------------------------------------------------------- the edge


@pytest.mark.parametrize("size", [500, 37])
def test_edge_batches_equal_the_one_by_one_reference(size: int) -> None:
    for kind, messages in (("communication", COMMUNICATIONS), ("feedback", FEEDBACK)):
        for start in range(0, len(messages), size):
            batch = messages[start : start + size]
            if kind == "communication":
                fast = dumped(EDGE.communications(batch, now=NOW))
            else:
                fast = dumped(EDGE.feedback(batch, now=NOW))
            with reference_paths():
                slow = dumped(reference_batch(EDGE, batch, kind))
            assert fast == slow


def test_a_broken_record_is_explained_by_the_edges_own_limits() -> None:
    """A message the contract refuses gets the contract's complaint, under the limits the
    edge was given (here above the default), also when checked after cleaning."""
    edge = Edge(EdgeConfig(limits=EdgeLimits(text_max_bytes=1024 * 1024)))
    value = orjson.loads(COMMUNICATIONS[0].value or b"")
    broken = [
        {**value, "text": "Where is my parcel? " * 15_000, "direction": "sideways"},
        {**value, "language": "x" * 17},
        {**value, "occurred_at": "2030-01-01T00:00:00Z", "event_id": ""},
    ]
    messages = [
        Incoming(orjson.dumps(v), None, "crm.communications", 0, n) for n, v in enumerate(broken)
    ]
    fast = dumped(edge.communications(messages, now=NOW))
    with reference_paths():
        slow = dumped(reference_batch(edge, messages, "communication"))
    assert fast == slow
    assert [letter["reason"] for letter in fast[1]] == ["schema"] * 3


def test_the_corpus_holds_what_the_shortcuts_and_the_model_see() -> None:
    result = EDGE.communications(COMMUNICATIONS, now=NOW)
    reasons = {d.reason for d in result.dead}
    assert {"not_utf8", "not_json", "not_object", "empty", "schema"} <= reasons
    assert {"future_timestamp", "text_too_long"} <= reasons
    records = [a.record for a in result.accepted]
    languages = {r.language for r in records}
    assert {"en", "zh", "und"} <= languages and len(languages) >= 10
    pii = {kind for r in records for kind in r.text_info.pii}
    assert {"EMAIL", "PHONE", "CARD", "IBAN", "CN_ID"} <= pii
    assert any(r.channel == "email" and "<p>" in str(m.value) for m, r in zip_accepted(result))
    assert any(r.text_info.truncated for r in records)


def zip_accepted(result: BatchResult[Any]) -> list[tuple[Incoming, Any]]:
    return [(a.message, a.record) for a in result.accepted]


def test_clean_text_equals_the_reference() -> None:
    pairs = []
    for message in COMMUNICATIONS[:400]:
        try:
            value = orjson.loads(message.value or b"")
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict) and isinstance(value.get("text"), str):
            pairs.append((value["text"], str(value.get("channel"))))
    fast = [EDGE.clean_text(text, channel) for text, channel in pairs]
    with reference_paths():
        slow = [reference_clean_text(EDGE, text, channel) for text, channel in pairs]
    assert fast == slow
    assert any(info.truncated for _, info in fast) and any(info.pii for _, info in fast)


def test_a_failing_language_batch_falls_back_to_each_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(texts: list[str]) -> list[str]:
        raise RuntimeError("bug")

    batch = COMMUNICATIONS[:200]
    expected = dumped(EDGE.communications(batch, now=NOW))
    monkeypatch.setattr("streams.pipeline.detect_languages", broken)
    assert dumped(EDGE.communications(batch, now=NOW)) == expected


# --------------------------------------------------------------------------- languages


def corpus_texts() -> list[str]:
    """The cleaned texts of the corpus, as the edge hands them to language detection."""
    texts = []
    for message in COMMUNICATIONS + FEEDBACK:
        try:
            value = orjson.loads(message.value or b"")
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict):
            raw = value.get("text") or value.get("comment")
            if isinstance(raw, str) and len(raw) < 20_000:
                texts.append(EDGE.clean_text(raw, str(value.get("channel", "other")))[0])
    return texts


CORPUS_TEXTS = corpus_texts()
SYNTHETIC = synthetic_texts(5, 400)


@pytest.mark.parametrize("texts", [CORPUS_TEXTS, SYNTHETIC], ids=["generated", "synthetic"])
def test_batch_detection_equals_detect_language(texts: list[str]) -> None:
    assert detect_languages(texts) == [detect_language(text) for text in texts]


def reference_before_model(text: str) -> tuple[str, str | None]:
    """detect_language's steps before the model, as it takes them."""
    if not text:
        return "und", None
    cleaned = language._NOISE.sub(" ", text[:4000])
    if len(language._LETTER.findall(cleaned)) < 2:
        return "und", None
    by_script = language._by_script(cleaned)
    if by_script is not None:
        return by_script, None
    rest = language._CJK_RUN.sub(" ", cleaned)
    if len(language._LETTER.findall(rest)) < 2:
        return "und", None
    by_words = language._by_short_text_words(rest)
    if by_words is not None:
        return by_words, None
    return "und", rest[:2000]


@pytest.mark.parametrize("texts", [CORPUS_TEXTS, SYNTHETIC], ids=["generated", "synthetic"])
def test_the_steps_before_the_model_are_detect_languages(texts: list[str]) -> None:
    assert [language._before_model(t) for t in texts] == [reference_before_model(t) for t in texts]


def test_the_batch_model_decides_almost_every_text_itself() -> None:
    """A broken batch model could hide behind the hand-back to detect_language: every text
    it does decide must be py3langid's answer, and it must decide nearly all of them."""
    inputs = [
        model_input
        for model_input in (language._before_model(t)[1] for t in CORPUS_TEXTS + SYNTHETIC)
        if model_input is not None
    ]
    assert len(inputs) > 500
    batch = language._batch_model()
    assert batch is not None
    decided = batch.classify(inputs)
    assert sum(answer is not None for answer in decided) >= 0.97 * len(inputs)
    identifier = language._identifier()
    for text, answer in zip(inputs, decided, strict=True):
        if answer is not None:
            code, confidence = identifier.classify(text)
            assert answer == (code if confidence >= language.MIN_CONFIDENCE else "und"), text


@pytest.mark.parametrize("close", [3e-7, 2.0])
def test_near_ties_are_handed_back_to_py3langid(close: float) -> None:
    """On a small model whose first two languages are the same but for their prior (nearly
    the same, or not), every answer the batch gives is py3langid's float32 answer, and
    the near ties are handed back."""
    from py3langid.langid import LanguageIdentifier

    rng = np.random.default_rng(7)
    weights = rng.uniform(-3, 0, size=(256, 6)).astype(np.float16)
    weights[:, 1] = weights[:, 0]  # the same language twice, but for its prior
    prior = np.array([-1.0, -1.0 + close, -1.5, -1.2, -2.0, -1.1], dtype=np.float32)
    nextmove = np.arange(1, 257, dtype=np.uint32)  # one row: byte b leads to state b + 1
    identifier = LanguageIdentifier(
        weights, prior, ["ar", "cs", "de", "el", "en", "es"], array("I", nextmove.tolist()),
        [-1, *range(32), -1, *range(33, 256)], norm_probs=True, tk_row=array("H", [0] * 257),
    )  # fmt: skip
    batch = language._BatchModel(identifier)
    texts = [
        "".join(chr(rng.integers(32, 127)) for _ in range(rng.integers(1, 60))) for _ in range(400)
    ]
    texts += [" ", "   "]  # a space is no feature here: py3langid's uniform scores
    answers = batch.classify(texts)
    assert any(answer is None for answer in answers[:-2]) == (close < 1e-3)
    assert answers[-2:] == [None, None]  # featureless: py3langid's own way
    assert sum(answer is not None for answer in answers) > len(texts) / 2
    for text, answer in zip(texts, answers, strict=True):
        if answer is not None:
            code, confidence = identifier.classify(text)
            assert answer == (code if confidence >= language.MIN_CONFIDENCE else "und")


def test_the_chunked_walk_counts_what_py3langid_counts() -> None:
    """Each chunk starts its walk the automaton's depth early; the counts must be py3langid's
    own, also for texts many chunks long and for arbitrary bytes."""
    from py3langid.langid import visit_counts

    batch = language._batch_model()
    assert batch is not None
    identifier = language._identifier()
    rng = random.Random(3)
    encoded = [identifier._encode(text) for text in SYNTHETIC[:150]]
    encoded += [bytes(rng.randrange(256) for _ in range(rng.randrange(400))) for _ in range(30)]
    encoded += [b"", b"a", b"ab" * 300]
    lengths = np.array([len(data) for data in encoded])
    visits = batch._visits(b"".join(encoded), lengths)
    for row, data in enumerate(encoded):
        expected = visit_counts(
            identifier.tk_nextmove, identifier._rowbase, identifier.tk_output, data
        )
        start, end = visits.indptr[row], visits.indptr[row + 1]
        counts = np.rint(np.expm1(visits.data[start:end])).astype(int)
        assert dict(zip(visits.indices[start:end].tolist(), counts.tolist(), strict=True)) == (
            dict(expected or {})
        )


MIXED = st.text(
    alphabet=st.sampled_from(
        [*"abcdhw xyzAÉé@&#;[]_.'’-:/\n0123456789٣", "好", "の", "한", "я", "ß", "😀", "ｱ"]
    ),
    max_size=120,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(MIXED, max_size=8))
def test_batch_detection_equals_detect_language_on_any_text(texts: list[str]) -> None:
    assert detect_languages(texts) == [detect_language(text) for text in texts]


@settings(max_examples=500, deadline=None)
@given(MIXED)
def test_the_steps_before_the_model_on_any_text(text: str) -> None:
    assert language._before_model(text) == reference_before_model(text)


@settings(max_examples=500, deadline=None)
@given(MIXED)
def test_noise_without_the_address_branch_finds_the_same(text: str) -> None:
    if language._ADDRESS_DOMAIN.search(text) is None:
        expected = language._NOISE.sub(" ", text)
        assert language._NOISE_BUT_ADDRESSES.sub(" ", text) == expected
    else:  # an address may match: the full pattern is used
        assert re.search(r"@[\w-]+\.[\w-]", text)


@settings(max_examples=500, deadline=None)
@given(MIXED)
def test_more_than_short_is_findall_counting_four_words(text: str) -> None:
    four = language._MORE_THAN_SHORT.search(text, 0, 200) is not None
    assert four == (len(language._WORD.findall(text, 0, 200)) > language._SHORT_WORDS)


# --------------------------------------------------------------------------- shortcuts

SPACING = st.text(alphabet=st.sampled_from(list(" a\n")), max_size=12) | st.text(
    alphabet=st.sampled_from(list(" \t\n\r\x0b\x0c\x1c\x85\u2028\x00\x7f\u00ad\u200b\ufeffab好")),
    max_size=30,
)
PATTERNS = (
    normalize._LINE_BREAKS,
    normalize._INVISIBLE,
    normalize._HORIZONTAL_SPACE,
    normalize._SPACE_AT_LINE_EDGES,
    normalize._BLANK_LINES,
)
SPACED = ["a  b", "a\tb", "a \nb", "a\n b", "a\n\n\nb", "a\rb", "a\u00adb", "a\u2028b", "a b\n\nc"]


@settings(max_examples=1000, deadline=None)
@given(SPACING)
def test_spacing_work_is_needed_exactly_where_a_substitution_matches(text: str) -> None:
    assert normalize._needs_spacing_work(text) == any(p.search(text) for p in PATTERNS)


@pytest.mark.parametrize("text", SPACED)
def test_spacing_work_examples(text: str) -> None:
    assert normalize._needs_spacing_work(text) == any(p.search(text) for p in PATTERNS)
    assert normalize._clean(text) == reference_clean(text)


def reference_clean(text: str) -> str:
    with reference_paths():
        return normalize._clean(text)


ADDRESSY = st.text(alphabet=st.sampled_from(list("ab1.-_+@ '`é．＠")), max_size=30)
ADDRESSES = ["a@b.co", "@united a@b.co", "x @b.co", "a@ b.co", "'a@b.co", "é@b.co", "a＠b．co"]


@settings(max_examples=1000, deadline=None)
@given(ADDRESSY)
def test_no_address_is_missed_by_its_pre_check(text: str) -> None:
    folded = text.translate(redaction._FOLD)
    if redaction._EMAIL.search(folded):
        assert redaction._may_hold_address(folded)


@pytest.mark.parametrize("text", ADDRESSES)
def test_address_pre_check_examples(text: str) -> None:
    folded = text.translate(redaction._FOLD)
    assert redaction._may_hold_address(folded) == (redaction._EMAIL.search(folded) is not None)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("DEGBde 0123456789x")), max_size=40))
def test_every_iban_candidate_starts_where_the_pre_check_looks(text: str) -> None:
    if redaction._IBAN.search(text):
        assert redaction._IBAN_START.search(text)


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_an_ascii_text_is_its_own_fold(text: str) -> None:
    assert text.translate(redaction._FOLD) == text


@given(st.text(alphabet=st.sampled_from(list("a1９٣０ ＠"))))
def test_folded_every_digit_the_redactor_knows_is_ascii(text: str) -> None:
    folded = text.translate(redaction._FOLD)
    assert (redaction._ascii_digits(folded) == 0) == (redaction._ANY_DIGIT.search(folded) is None)


def test_the_shortcuts_are_taken_on_the_corpus() -> None:
    """Otherwise the equality above would prove nothing about them."""
    normalized = [normalize._clean(text) for text in CORPUS_TEXTS]
    assert sum(not normalize._needs_spacing_work(t) for t in normalized) > len(normalized) / 2
    with_at = [t for t in CORPUS_TEXTS + SYNTHETIC if "@" in t]
    assert any(not redaction._may_hold_address(t) for t in with_at)
    assert any(redaction._may_hold_address(t) for t in with_at)
    assert any(
        redaction._ANY_DIGIT.search(t) and redaction._IBAN_START.search(t) is None
        for t in CORPUS_TEXTS
    )
