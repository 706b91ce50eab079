"""Unit tests for the deterministic event generator (crmstream.generator)."""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import statistics
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crmstream.generator import (
    CHANNELS,
    NEEDS,
    EventGenerator,
    GeneratedEvent,
    Incident,
    _card_number,
    _cn_id,
    _iban,
)
from streams.check_digits import cn_id_check_char, iban_ok, luhn_check_digit, luhn_ok

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
CJK = re.compile(r"[\u4e00-\u9fff]")
URGENT = re.compile(r"urgent|immediately|asap|紧急|马上|立刻", re.IGNORECASE)
COMMUNICATION_KEYS = {"event_id", "occurred_at", "customer_id", "channel", "direction", "text"}
COMMUNICATION_KEYS |= {"conversation_id", "language", "metadata"}
OPTIONAL_COMMUNICATION_KEYS = {"agent_id", "subject", "need", "priority"}
FEEDBACK_KEYS = {"event_id", "occurred_at", "customer_id", "conversation_id", "agent_id", "kind"}
FEEDBACK_KEYS |= {"score", "scale", "comment", "language"}
SCALES = {"csat": (1, 5), "stars": (1, 5), "review": (1, 5), "complaint": (1, 5), "nps": (0, 10)}


def parse_time(stamp: str) -> datetime:
    """Parse a generated timestamp, insisting on the ISO 8601 UTC millisecond format."""
    assert STAMP.fullmatch(stamp), stamp
    return datetime.fromisoformat(stamp[:-1] + "+00:00")


def inbound(events: list[GeneratedEvent]) -> list[dict[str, Any]]:
    return [
        e.value for e in events if e.kind == "communication" and e.value["direction"] == "inbound"
    ]


def normalized(feedback: dict[str, Any]) -> float:
    low, high = feedback["scale"]["min"], feedback["scale"]["max"]
    return float((feedback["score"] - low) / (high - low))


def take_conversations(gen: EventGenerator, count: int) -> list[list[GeneratedEvent]]:
    stream = gen.conversations()
    return [next(stream) for _ in range(count)]


@pytest.fixture(scope="module")
def events() -> list[GeneratedEvent]:
    return list(EventGenerator(seed=11).events(3000))


@pytest.fixture(scope="module")
def labelled() -> list[dict[str, Any]]:
    """Inbound messages of a generator that labels every inbound message."""
    return inbound(list(EventGenerator(seed=21, label_share=1.0).events(3000)))


@pytest.fixture(scope="module")
def conversations() -> list[list[GeneratedEvent]]:
    return take_conversations(EventGenerator(seed=5), 600)


# -- determinism and counts ----------------------------------------------------------


def test_same_seed_and_arguments_give_identical_output() -> None:
    first = list(EventGenerator(seed=3, zh_share=0.5).events(500))
    second = list(EventGenerator(seed=3, zh_share=0.5).events(500))
    assert first == second
    gen = EventGenerator(seed=3, zh_share=0.5)
    assert list(gen.events(200)) == list(gen.events(200)) == first[:200]


def test_different_seeds_give_different_output() -> None:
    one = list(EventGenerator(seed=1).events(300))
    two = list(EventGenerator(seed=2).events(300))
    assert {e.value["event_id"] for e in one}.isdisjoint(e.value["event_id"] for e in two)
    assert [e.value.get("text") for e in one] != [e.value.get("text") for e in two]


def test_global_random_state_is_neither_used_nor_changed() -> None:
    random.seed(123)
    state = random.getstate()
    first = list(EventGenerator(seed=4).events(100))
    assert random.getstate() == state
    random.seed(999)
    assert list(EventGenerator(seed=4).events(100)) == first


@pytest.mark.parametrize("count", [0, 1, 2, 57, 1000])
def test_events_yields_exactly_count(count: int) -> None:
    assert sum(1 for _ in EventGenerator(seed=8).events(count)) == count


def test_negative_count_is_rejected() -> None:
    with pytest.raises(ValueError, match="count"):
        list(EventGenerator().events(-1))


@pytest.mark.parametrize(
    "kwargs",
    [{"zh_share": 1.5}, {"label_share": -0.1}, {"customers": 0}, {"agents": 0}],
)
def test_invalid_arguments_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        EventGenerator(**kwargs)


def test_invalid_incidents_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown agent"):
        EventGenerator(agents=3, incidents=[Incident("agent-004", START, START)])
    with pytest.raises(ValueError, match="before its start"):
        EventGenerator(incidents=[Incident("agent-001", START, START - timedelta(1))])


def test_agent_ids_and_start() -> None:
    gen = EventGenerator(agents=7, start=datetime(2025, 3, 1, 12, 30, 0, 123456))
    assert gen.agent_ids == tuple(f"agent-{i:03d}" for i in range(1, 8))
    first = next(iter(gen.events(1)))
    assert first.value["occurred_at"] == "2025-03-01T12:30:00.123Z"  # naive means UTC
    default = next(iter(EventGenerator().events(1)))
    assert default.value["occurred_at"] == "2026-01-05T08:00:00.000Z"


# -- event shapes --------------------------------------------------------------------


def check_communication(value: dict[str, Any]) -> None:
    assert COMMUNICATION_KEYS <= value.keys() <= COMMUNICATION_KEYS | OPTIONAL_COMMUNICATION_KEYS
    assert uuid.UUID(value["event_id"]).version == 4
    parse_time(value["occurred_at"])
    assert re.fullmatch(r"cust-\d{5}", value["customer_id"])
    assert re.fullmatch(r"conv-[0-9a-f]{16}", value["conversation_id"])
    assert value["channel"] in CHANNELS
    assert value["direction"] in ("inbound", "outbound")
    assert value["language"] in ("en", "zh")
    assert isinstance(value["text"], str)
    assert value["text"].strip()
    assert ("subject" in value) == (value["channel"] == "email")
    tier = value["metadata"]["customer_tier"]
    assert tier in ("standard", "gold", "platinum")
    if value["direction"] == "outbound":
        assert re.fullmatch(r"agent-\d{3}", value["agent_id"])
        assert value["metadata"] == {"customer_tier": tier}
        assert "need" not in value
        assert "priority" not in value
    else:
        wait = value["metadata"]["wait_seconds"]
        assert isinstance(wait, int)
        assert wait >= 0
        assert value.get("need", NEEDS[0]) in NEEDS
        assert value.get("priority", "P1") in ("P1", "P2", "P3", "P4")
        assert "priority" not in value or "need" in value


def check_feedback(value: dict[str, Any]) -> None:
    assert FEEDBACK_KEYS <= value.keys() <= FEEDBACK_KEYS | {"need"}
    assert uuid.UUID(value["event_id"]).version == 4
    parse_time(value["occurred_at"])
    assert re.fullmatch(r"agent-\d{3}", value["agent_id"])
    assert value["kind"] in SCALES
    low, high = SCALES[value["kind"]]
    assert value["scale"] == {"min": low, "max": high}
    assert type(value["score"]) is int
    assert low <= value["score"] <= high
    if value["kind"] == "complaint":
        assert value["score"] == 1
    assert isinstance(value["comment"], str)
    if value["kind"] not in ("csat", "nps"):
        assert value["comment"]
    assert value["language"] in ("en", "zh")
    assert value.get("need", NEEDS[0]) in NEEDS


def test_every_event_has_valid_shape(events: list[GeneratedEvent]) -> None:
    kinds = Counter(e.kind for e in events)
    assert kinds["communication"] > 0
    assert kinds["feedback"] > 0
    for event in events:
        assert event.key == event.value["customer_id"]
        json.dumps(event.value)  # JSON-serialisable
        if event.kind == "communication":
            check_communication(event.value)
        else:
            assert event.kind == "feedback"
            check_feedback(event.value)
    assert {e.value["channel"] for e in events if e.kind == "communication"} == set(CHANNELS)


def test_scores_are_valid_for_their_scale() -> None:
    feedback = [e.value for e in EventGenerator(seed=13).events(4000) if e.kind == "feedback"]
    assert {f["kind"] for f in feedback} == set(SCALES)
    for item in feedback:
        low, high = SCALES[item["kind"]]
        assert item["scale"] == {"min": low, "max": high}
        assert isinstance(item["score"], int)
        assert low <= item["score"] <= high
    nps = [f["score"] for f in feedback if f["kind"] == "nps"]
    assert max(nps) > 5  # uses the 0-10 range, not 1-5
    assert 0.4 <= sum("need" in f for f in feedback) / len(feedback) <= 0.6


# -- time order and conversations ----------------------------------------------------


def test_occurred_at_is_parseable_and_non_decreasing(events: list[GeneratedEvent]) -> None:
    times = [parse_time(e.value["occurred_at"]) for e in events]
    assert all(a <= b for a, b in itertools.pairwise(times))
    assert times[0] == START
    # Conversations are interleaved rather than emitted one after another.
    order = [e.value["conversation_id"] for e in events]
    runs = sum(1 for a, b in itertools.pairwise(order) if a != b) + 1
    assert runs > len(set(order)) * 1.5


def test_conversation_coherence(conversations: list[list[GeneratedEvent]]) -> None:
    for conv in conversations:
        messages = [e.value for e in conv if e.kind == "communication"]
        feedback = [e.value for e in conv if e.kind == "feedback"]
        assert len(feedback) <= 1
        assert all(e.kind == "communication" for e in conv[:-1])
        first = messages[0]
        for value in messages + feedback:
            assert value["customer_id"] == first["customer_id"]
            assert value["conversation_id"] == first["conversation_id"]
            assert value["language"] == first["language"]
        assert {m["channel"] for m in messages} == {first["channel"]}
        directions = [m["direction"] for m in messages]
        assert directions == ["inbound", "outbound"] * (len(directions) // 2) + (
            ["inbound"] if len(directions) % 2 else []
        )
        assert 1 <= directions.count("inbound") <= 3
        assert 1 <= directions.count("outbound") <= 3
        agents = {m["agent_id"] for m in messages if m["direction"] == "outbound"}
        assert len(agents) == 1
        assert "agent_id" not in first
        assert all(m["agent_id"] in agents for m in messages[1:])
        times = [parse_time(v["occurred_at"]) for v in messages + feedback]
        assert all(a < b for a, b in itertools.pairwise(times))
        if feedback:
            assert feedback[0]["agent_id"] in agents


def test_conversation_starts_are_non_decreasing(
    conversations: list[list[GeneratedEvent]],
) -> None:
    starts = [c[0].value["occurred_at"] for c in conversations]
    assert starts == sorted(starts)


def test_customers_keep_their_tier_and_language(
    conversations: list[list[GeneratedEvent]],
) -> None:
    profiles: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for conv in conversations:
        first = conv[0].value
        profiles[first["customer_id"]].add((first["metadata"]["customer_tier"], first["language"]))
    assert max(Counter(c[0].key for c in conversations).values()) > 1
    assert all(len(p) == 1 for p in profiles.values())
    tiers = Counter(next(iter(p))[0] for p in profiles.values())
    assert tiers["standard"] > tiers["gold"] > tiers["platinum"] > 0


def test_most_but_not_all_conversations_get_feedback(
    conversations: list[list[GeneratedEvent]],
) -> None:
    share = sum(c[-1].kind == "feedback" for c in conversations) / len(conversations)
    assert 0.62 <= share <= 0.78


def test_channel_pace(conversations: list[list[GeneratedEvent]]) -> None:
    first_reply: dict[str, list[float]] = defaultdict(list)
    for conv in conversations:
        gap = parse_time(conv[1].value["occurred_at"]) - parse_time(conv[0].value["occurred_at"])
        first_reply[conv[0].value["channel"]].append(gap.total_seconds())
    assert statistics.median(first_reply["email"]) > 1800
    assert statistics.median(first_reply["chat"]) < 300
    assert statistics.median(first_reply["phone"]) < 120


# -- shares --------------------------------------------------------------------------


@pytest.mark.parametrize("zh_share", [0.0, 0.3, 0.7, 1.0])
def test_zh_share_roughly_as_configured(zh_share: float) -> None:
    sample = list(EventGenerator(seed=17, zh_share=zh_share).events(2000))
    share = sum(e.value["language"] == "zh" for e in sample) / len(sample)
    assert abs(share - zh_share) <= 0.1
    for event in sample:
        text = event.value.get("text") or event.value["comment"]
        if event.value["language"] == "en":
            assert not CJK.search(text)
        elif event.kind == "communication":
            assert CJK.search(text)


@pytest.mark.parametrize("label_share", [0.0, 0.3, 0.8])
def test_label_share_roughly_as_configured(label_share: float) -> None:
    messages = inbound(list(EventGenerator(seed=19, label_share=label_share).events(2000)))
    needs = sum("need" in m for m in messages)
    priorities = sum("priority" in m for m in messages)
    assert abs(needs / len(messages) - label_share) <= 0.06
    assert 0.8 * needs <= priorities <= needs


# -- realism -------------------------------------------------------------------------


def tokens(text: str) -> list[str]:
    words = re.findall(r"[a-z]+", text.lower())
    cjk = "".join(CJK.findall(text))
    return words + [cjk[i : i + 2] for i in range(len(cjk) - 1)]


def naive_bayes_accuracy(train: list[dict[str, Any]], test: list[dict[str, Any]]) -> float:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    priors: Counter[str] = Counter(m["need"] for m in train)
    for message in train:
        counts[message["need"]].update(tokens(message["text"]))
    vocabulary = len({t for c in counts.values() for t in c})
    totals = {need: sum(c.values()) for need, c in counts.items()}

    def score(need: str, words: list[str]) -> float:
        denominator = totals[need] + vocabulary
        return math.log(priors[need]) + math.fsum(
            math.log((counts[need][w] + 1) / denominator) for w in words
        )

    guesses = [max(priors, key=lambda need: score(need, tokens(m["text"]))) for m in test]
    hits = sum(guess == m["need"] for guess, m in zip(guesses, test, strict=True))
    return float(hits / len(test))


def test_need_is_learnable_from_text_but_not_trivially(labelled: list[dict[str, Any]]) -> None:
    cut = int(len(labelled) * 0.7)
    accuracy = naive_bayes_accuracy(labelled[:cut], labelled[cut:])
    assert 0.6 < accuracy < 0.97


def test_chinese_texts_use_domain_words(labelled: list[dict[str, Any]]) -> None:
    zh = [m for m in labelled if m["language"] == "zh"]
    by_need = {need: [m["text"] for m in zh if m["need"] == need] for need in NEEDS}
    for need, words in [
        ("delivery", "快递|包裹|物流"),
        ("refund", "退款|退货|退回"),
        ("account_access", "登录|账号|验证"),
        ("cancellation", "取消|注销|退订|续费|解约"),
        ("billing", "账单|扣款|发票|扣费|收费|月费"),
    ]:
        texts = by_need[need]
        hits = sum(bool(re.search(words, t)) for t in texts)
        assert len(texts) >= 10, need
        assert hits / len(texts) > 0.5, need


def test_urgent_wording_is_more_common_for_high_priority(labelled: list[dict[str, Any]]) -> None:
    def urgent_share(priorities: tuple[str, ...]) -> float:
        texts = [m["text"] for m in labelled if m.get("priority") in priorities]
        return sum(bool(URGENT.search(t)) for t in texts) / len(texts)

    assert urgent_share(("P1", "P2")) > urgent_share(("P3", "P4")) + 0.15


def test_priority_correlates_with_need(labelled: list[dict[str, Any]]) -> None:
    ranks: dict[str, list[int]] = defaultdict(list)
    for message in labelled:
        if "priority" in message:
            ranks[message["need"]].append(int(message["priority"][1]))
    urgent_needs = [statistics.mean(ranks[n]) for n in ("complaint", "account_access", "refund")]
    assert max(urgent_needs) < statistics.mean(ranks["product_question"]) - 0.5


def test_channel_specific_text(events: list[GeneratedEvent]) -> None:
    messages = inbound(events)
    emails = [m for m in messages if m["channel"] == "email"]
    assert all("\n--\n" in m["text"] for m in emails)
    assert any(re.search(r"\nOn .+ wrote:\n> |写道：\n> ", m["text"]) for m in emails)
    phone = [m["text"] for m in messages if m["channel"] == "phone"]
    assert phone
    assert all(("Customer:" in t) or ("客户：" in t) for t in phone)


def test_comment_sentiment_agrees_with_score() -> None:
    feedback = [e.value for e in EventGenerator(seed=23).events(6000) if e.kind == "feedback"]
    low = {f["comment"] for f in feedback if normalized(f) <= 0.25 and f["comment"]}
    high = {f["comment"] for f in feedback if normalized(f) >= 0.75 and f["comment"]}
    assert low
    assert high
    assert low.isdisjoint(high)
    assert "terrible service" in low or "太慢了，很失望" in low
    assert "quick and helpful" in high or "很满意" in high


# -- PII and checksums ---------------------------------------------------------------


def iban_mod97(iban: str) -> int:
    compact = iban.replace(" ", "")
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(ord(c) - 55) if c.isalpha() else c for c in rearranged)) % 97


def cn_id_is_valid(number: str) -> bool:
    """ISO 7064 MOD 11-2 as stated in GB 11643: sum(a_i * 2^(17-i)) % 11 == 1."""
    values = [10 if c == "X" else int(c) for c in number]
    return sum(v * pow(2, 17 - i, 11) for i, v in enumerate(values)) % 11 == 1


def _luhn_valid(number: str) -> bool:
    """Whether ``number`` (spaces and dashes ignored) passes the Luhn check."""
    digits = number.replace(" ", "").replace("-", "")
    return len(digits) > 1 and digits.isdigit() and luhn_ok(digits)


def _iban_valid(iban: str) -> bool:
    """Whether ``iban`` (spaces ignored) passes the mod-97 check."""
    compact = iban.replace(" ", "").upper()
    return len(compact) > 4 and compact.isalnum() and iban_ok(compact)


def test_luhn_helpers_on_known_numbers() -> None:
    assert luhn_check_digit("7992739871") == "3"
    assert _luhn_valid("79927398713")
    assert _luhn_valid("4539 1488 0343 6467")
    assert _luhn_valid("4539-1488-0343-6467")
    assert not _luhn_valid("79927398710")
    assert not _luhn_valid("4539 1488 0343 6468")


def test_generated_cards_pass_luhn_and_catch_typos() -> None:
    rng = random.Random(1)
    for _ in range(300):
        card = _card_number(rng)
        digits = re.sub(r"[ -]", "", card)
        assert re.fullmatch(r"\d{15,16}", digits)
        assert re.fullmatch(r"[\d -]+", card)
        assert _luhn_valid(card)
        position = rng.randrange(len(digits))
        typo = str((int(digits[position]) + rng.randint(1, 9)) % 10)
        assert not _luhn_valid(digits[:position] + typo + digits[position + 1 :])


def test_cn_id_checksum() -> None:
    assert cn_id_check_char("11010519491231002") == "X"  # the GB 11643 sample
    assert cn_id_is_valid("11010519491231002X")
    rng = random.Random(2)
    for _ in range(300):
        number = _cn_id(rng)
        assert re.fullmatch(r"\d{17}[\dX]", number)
        datetime.strptime(number[6:14], "%Y%m%d")  # a real birth date
        assert cn_id_is_valid(number)
        wrong = "0" if number[-1] != "0" else "1"
        assert not cn_id_is_valid(number[:-1] + wrong)


def test_iban_checksum() -> None:
    for known in ("GB82 WEST 1234 5698 7654 32", "DE89370400440532013000"):
        assert _iban_valid(known)
        assert iban_mod97(known) == 1
    assert not _iban_valid("GB82 WEST 1234 5698 7654 33")
    rng = random.Random(3)
    for _ in range(300):
        iban = _iban(rng)
        assert re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9 ]+", iban)
        assert iban_mod97(iban) == 1
        assert _iban_valid(iban)


PII_PATTERNS = {
    "card": re.compile(r"(?:card number is|card I paid with is|银行卡号是|这张卡：)([\d -]+\d)"),
    "iban": re.compile(r"IBAN ([A-Z]{2}\d{2}[A-Z0-9 ]+?)(?: please|\.)"),
    "cn_id": re.compile(r"身份证号码?(?:是|：)(\d{17}[\dX])"),
    "email": re.compile(r"(?<![<\w.])[\w.]+@(?!example\.com>)[\w.]+\.[a-z]+"),
    "phone": re.compile(r"\+\d{1,2} [\d ()-]{8,}\d|(?<!\d)1[3-9]\d{9}(?!\d)"),
}


def test_pii_appears_in_about_15_percent_and_is_well_formed(
    events: list[GeneratedEvent],
) -> None:
    messages = inbound(events)
    found: dict[str, list[str]] = defaultdict(list)
    with_pii = 0
    for message in messages:
        text = message["text"].split("\n\nOn ")[0].split("\n\n在 ")[0]  # drop quoted replies
        hits = {kind: p.findall(text) for kind, p in PII_PATTERNS.items()}
        with_pii += any(hits.values())
        for kind, values in hits.items():
            found[kind] += values
    assert 0.09 <= with_pii / len(messages) <= 0.22
    assert all(len(found[kind]) >= 5 for kind in PII_PATTERNS), {
        k: len(v) for k, v in found.items()
    }
    assert all(_luhn_valid(card) for card in found["card"])
    assert all(iban_mod97(iban) == 1 for iban in found["iban"])
    assert all(cn_id_is_valid(number) for number in found["cn_id"])


# -- incidents -----------------------------------------------------------------------


def scores_by_window(
    gen: EventGenerator, agent_id: str, low: datetime, high: datetime, until: datetime
) -> tuple[list[float], list[float], list[int], list[int]]:
    """Normalized scores and reply lengths of `agent_id`, inside vs outside [low, high]."""
    inside: list[float] = []
    outside: list[float] = []
    inside_replies: list[int] = []
    outside_replies: list[int] = []
    stream: Iterator[list[GeneratedEvent]] = gen.conversations()
    for conv in stream:
        start = parse_time(conv[0].value["occurred_at"])
        if start > until:
            break
        if conv[1].value["agent_id"] != agent_id:  # the first reply names the agent
            continue
        in_window = low <= start <= high
        for event in conv:
            if event.kind == "feedback":
                (inside if in_window else outside).append(normalized(event.value))
            elif event.value["direction"] == "outbound":
                size = len(event.value["text"])
                (inside_replies if in_window else outside_replies).append(size)
    return inside, outside, inside_replies, outside_replies


def test_incident_lowers_the_agents_scores_inside_the_window() -> None:
    low, high, until = (
        START + timedelta(hours=1),
        START + timedelta(hours=4),
        START + timedelta(hours=6),
    )
    incident = Incident("agent-002", low, high)
    gen = EventGenerator(seed=29, agents=5, incidents=[incident])
    inside, outside, inside_replies, outside_replies = scores_by_window(
        gen, "agent-002", low, high, until
    )
    assert len(inside) >= 20
    assert len(outside) >= 20
    assert statistics.mean(inside) < statistics.mean(outside) - 0.25
    assert statistics.mean(inside_replies) < 0.7 * statistics.mean(outside_replies)
    # Control: without the incident the same agent scores alike in and out of the window.
    control = scores_by_window(EventGenerator(seed=29, agents=5), "agent-002", low, high, until)
    assert abs(statistics.mean(control[0]) - statistics.mean(control[1])) < 0.1
