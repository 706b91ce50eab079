# (RUF001: the Chinese phrases legitimately use full-width punctuation.)
"""Deterministic generator of realistic customer-communication events.

The generator produces English and Chinese conversations between customers and support
agents (communications) followed, most of the time, by a satisfaction feedback event.
Everything is derived from a seeded :class:`random.Random`, so the same seed and the same
arguments always produce the same events; there is no I/O and no global random state.

Example:
    >>> gen = EventGenerator(seed=7, customers=50, agents=5)
    >>> events = list(gen.events(10))
    >>> len(events), events[0].kind, events[0].value["direction"]
    (10, 'communication', 'inbound')
    >>> events[0].key == events[0].value["customer_id"]
    True
    >>> stamps = [e.value["occurred_at"] for e in events]
    >>> stamps == sorted(stamps) and all(s.endswith("Z") for s in stamps)
    True
    >>> again = EventGenerator(seed=7, customers=50, agents=5).events(10)
    >>> [e.value for e in again] == [e.value for e in events]
    True
    >>> gen.agent_ids[:2]
    ('agent-001', 'agent-002')
"""

from __future__ import annotations

import heapq
import itertools
import random
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any, Literal

import yaml

from crmstream.errors import CrmstreamError
from streams.check_digits import cn_id_check_char, iban_check_digits, luhn_check_digit

__all__ = [
    "ARCHETYPES",
    "CHANNELS",
    "DEFAULT_START",
    "INJECTABLE_NEEDS",
    "NEEDS",
    "Archetype",
    "EventGenerator",
    "GeneratedEvent",
    "GeneratorArgumentError",
    "Incident",
    "Injection",
]


class GeneratorArgumentError(CrmstreamError, ValueError):
    """An argument of the event generator is out of range (``--zh-share 2``, a negative
    count, an incident for an unknown agent, an archetype with unknown needs)."""


NEEDS: tuple[str, ...] = (
    "billing",
    "refund",
    "delivery",
    "technical_issue",
    "account_access",
    "cancellation",
    "product_question",
    "complaint",
)
"""The need (intent) taxonomy carried by labelled inbound messages and feedback."""

CHANNELS: tuple[str, ...] = ("phone", "email", "chat", "social", "sms", "other")
"""Communication channels."""

DEFAULT_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
"""Start of the generated timeline when no ``start`` is given (keeps output deterministic)."""

#: The templates file, package data next to this module.
TEMPLATES_FILE = "generator_templates.yaml"

_Lang = Literal["en", "zh"]
_Table = dict[tuple[str, str], tuple[str, ...]]


def _template_table(sections: Mapping[str, Mapping[str, Sequence[str]]]) -> _Table:
    """One part of the templates file as {(section, key): items}; a section is a need
    (``by_need``) or a language (``common``)."""
    return {
        (section, key): tuple(items)
        for section, phrases in sections.items()
        for key, items in phrases.items()
    }


# Per need: inbound texts (`en`, `zh`), subjects and agent replies; and need-independent
# phrases per language. Data, not code: read once, when the module is imported.
_TEMPLATES = yaml.safe_load(
    resources.files("crmstream").joinpath(TEMPLATES_FILE).read_text(encoding="utf-8")
)
_BY_NEED = _template_table({**_TEMPLATES["by_need"], **_TEMPLATES["injectable"]})
INJECTABLE_NEEDS: tuple[str, ...] = tuple(_TEMPLATES["injectable"])
"""Needs a stream has only when injected (:class:`Injection`)."""
_COMMON = _template_table(_TEMPLATES["common"])

_EN_FIRST = ("John", "Emma", "Liam", "Olivia", "Noah", "Ava", "James", "Mia", "Lucas", "Sophie")
_EN_LAST = ("Smith", "Johnson", "Brown", "Taylor", "Miller", "Wilson", "Davis", "Clark")
_ZH_NAMES = ("王磊 wanglei", "李娜 lina", "张伟 zhangwei", "刘洋 liuyang", "陈静 chenjing")
_ZH_SURNAMES = "王李张刘陈杨赵黄周吴"
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Channel pace: mean agent response delay and mean customer reply delay, in seconds.
_PACE: dict[str, tuple[float, float]] = {
    "phone": (40, 25),
    "chat": (90, 60),
    "sms": (900, 300),
    "social": (1800, 900),
    "email": (3 * 3600, 4 * 3600),
    "other": (3600, 1800),
}
_CHANNEL_WEIGHTS = (0.2, 0.3, 0.25, 0.08, 0.1, 0.07)  # aligned with CHANNELS
_NEED_WEIGHTS = (0.14, 0.14, 0.18, 0.14, 0.1, 0.08, 0.14, 0.08)  # aligned with NEEDS
_NEED_PRIORITY = dict(zip(NEEDS, (0.5, 0.8, 0.5, 0.6, 1.0, 0.4, 0.0, 1.2), strict=True))
_NEED_PENALTY = dict(zip(NEEDS, (0.05, 0.08, 0.05, 0.06, 0.06, 0.1, 0.0, 0.25), strict=True))
_TIERS = ("standard", "gold", "platinum")
_TIER_WEIGHTS = (0.7, 0.2, 0.1)
_TIER_PRIORITY = {"standard": 0.0, "gold": 0.15, "platinum": 0.3}
_URGENT_PROBABILITY = {"P1": 0.75, "P2": 0.45, "P3": 0.12, "P4": 0.04}
_FEEDBACK_KINDS = ("csat", "nps", "stars", "review")
_FEEDBACK_WEIGHTS = (0.35, 0.25, 0.2, 0.2)
_FEEDBACK_SHARE = 0.7
_PII_SHARE = 0.15
_AMBIGUOUS_SHARE = 0.06
_MEAN_CONVERSATION_GAP = 30.0  # seconds between conversation starts

# --------------------------------------------------------------------------------------
# Public data types
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Incident:
    """One agent's satisfaction collapses between start and end (used later for alert tests).

    A conversation is affected when it starts inside ``[start, end]`` and is handled by
    ``agent_id``: its replies are curt and slow and its feedback scores drop sharply.
    Naive datetimes are taken as UTC.
    """

    agent_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Injection:
    """A new need (one of :data:`INJECTABLE_NEEDS`) that appears at ``start``: from then
    on, a ``share`` of the conversations are about it. Naive datetimes are taken as UTC."""

    need: str
    start: datetime
    share: float = 0.02


@dataclass(frozen=True)
class Archetype:
    """A kind of customer: which needs they write about, on which channels, how content.

    ``needs`` and ``channels`` are relative weights (missing ones weigh nothing);
    ``satisfaction`` shifts the latent satisfaction of their conversations.
    """

    name: str
    needs: dict[str, float]
    channels: dict[str, float]
    satisfaction: float = 0.0

    def __post_init__(self) -> None:
        if set(self.needs) - set(NEEDS) or set(self.channels) - set(CHANNELS):
            raise GeneratorArgumentError(
                f"archetype {self.name!r} names an unknown need or channel"
            )
        if sum(self.needs.values()) <= 0 or sum(self.channels.values()) <= 0:
            raise GeneratorArgumentError(
                f"archetype {self.name!r} needs positive need and channel weights"
            )

    def need_weights(self) -> tuple[float, ...]:
        return tuple(self.needs.get(n, 0.0) for n in NEEDS)

    def channel_weights(self) -> tuple[float, ...]:
        return tuple(self.channels.get(c, 0.0) for c in CHANNELS)


ARCHETYPES: tuple[Archetype, ...] = (
    Archetype(
        "money_on_the_phone",
        {"refund": 0.5, "billing": 0.4, "cancellation": 0.1},
        {"phone": 0.8, "email": 0.2},
        satisfaction=-0.25,
    ),
    Archetype(
        "parcels_by_chat",
        {"delivery": 0.6, "product_question": 0.4},
        {"chat": 0.7, "sms": 0.3},
        satisfaction=0.1,
    ),
    Archetype(
        "tech_by_email",
        {"technical_issue": 0.6, "account_access": 0.4},
        {"email": 0.8, "other": 0.2},
    ),
    Archetype(
        "public_complainers",
        {"complaint": 0.7, "cancellation": 0.3},
        {"social": 0.8, "chat": 0.2},
        satisfaction=-0.15,
    ),
)
"""Four customer kinds with distinct needs and channels (see :class:`EventGenerator`)."""


@dataclass(frozen=True)
class GeneratedEvent:
    """One event ready to publish: ``kind`` selects the topic, ``key`` is the Kafka key."""

    kind: Literal["communication", "feedback"]
    key: str
    value: dict[str, Any]


# --------------------------------------------------------------------------------------
# Checksums and PII values
# --------------------------------------------------------------------------------------


def _digits(rng: random.Random, count: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(count))


def _card_number(rng: random.Random) -> str:
    """Return a Luhn-valid Visa, Mastercard or Amex number, sometimes grouped."""
    prefix, length = rng.choice((("4", 16), (str(rng.randint(51, 55)), 16), ("37", 15)))
    body = prefix + _digits(rng, length - len(prefix) - 1)
    number = body + luhn_check_digit(body)
    sep = rng.choice(("", " ", "-"))
    cuts = (0, 4, 10, 15) if length == 15 else (0, 4, 8, 12, 16)
    return sep.join(number[a:b] for a, b in itertools.pairwise(cuts))


def _cn_id(rng: random.Random) -> str:
    """Return a well-formed 18-character Chinese resident ID number."""
    region = rng.choice(("110101", "310104", "440305", "510107", "330106", "320102"))
    birth = datetime(1960, 1, 1) + timedelta(days=rng.randrange(45 * 365))
    first17 = f"{region}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + cn_id_check_char(first17)


def _iban(rng: random.Random) -> str:
    """Return an IBAN with a valid mod-97 checksum, sometimes grouped by four."""
    country = rng.choice(("GB", "DE", "NL", "FR"))
    bank = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4))
    lengths = {"GB": 14, "DE": 18, "NL": 10, "FR": 23}
    bban = ("" if country in ("DE", "FR") else bank) + _digits(rng, lengths[country])
    iban = f"{country}{iban_check_digits(country, bban)}{bban}"
    if rng.random() < 0.5:
        iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return iban


def _intl_phone(rng: random.Random) -> str:
    """Return a fictional phone number in an international format."""
    return rng.choice(
        (
            f"+1 415 555 {rng.randrange(100, 200):04d}",
            f"+44 20 7946 {rng.randrange(1000):04d}",
            f"+49 30 {rng.randrange(10**7, 10**8)}",
            f"+1 (212) 555-{rng.randrange(100, 200):04d}",
        )
    )


def _cn_mobile(rng: random.Random) -> str:
    """Return an 11-digit mainland-China mobile number (138xxxxxxxx style)."""
    return rng.choice(("138", "139", "186", "150", "177")) + _digits(rng, 8)


# --------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Customer:
    customer_id: str
    tier: str
    language: _Lang
    name: str
    email: str
    archetype: Archetype | None = None


@dataclass(frozen=True)
class _Agent:
    agent_id: str
    quality: float  # hidden, in [0.3, 1.0]
    name_en: str
    name_zh: str


@dataclass
class _Conversation:
    conversation_id: str
    customer: _Customer
    agent: _Agent
    need: str
    channel: str
    incident: bool
    slots: dict[str, str]
    subject: str = ""
    waits: list[float] = field(default_factory=list)

    @property
    def lang(self) -> _Lang:
        return self.customer.language


def _iso(moment: datetime) -> str:
    """Format an aware datetime as ISO 8601 UTC with millisecond precision and a Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _to_utc_ms(moment: datetime) -> datetime:
    """Make ``moment`` UTC-aware (naive means UTC) and truncate it to milliseconds."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _after(moment: datetime, seconds: float) -> datetime:
    """Return ``moment`` plus ``seconds`` (at least one), kept at millisecond precision."""
    return moment + timedelta(milliseconds=max(1000, round(seconds * 1000)))


def _pick(rng: random.Random, table: _Table, section: str, key: str) -> str:
    return rng.choice(table[(section, key)])


class EventGenerator:
    """Endless, deterministic stream of customer conversations and feedback.

    Every call to :meth:`conversations` or :meth:`events` replays the same stream from the
    beginning. Agents are named ``agent-001``, ``agent-002``, ... and customers
    ``cust-00001``, ..., so incidents can be declared before construction. Inbound
    ``metadata.wait_seconds`` is how long the customer waited for the agent's next reply.

    With ``archetypes``, customer number *i* is of archetype ``i % len(archetypes)``
    (:meth:`archetype_of`) and their conversations draw need, channel and satisfaction
    from it; without, every customer draws from the same mix (the same stream as before).
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        start: datetime | None = None,
        zh_share: float = 0.3,
        label_share: float = 0.3,
        customers: int = 500,
        agents: int = 20,
        incidents: Sequence[Incident] = (),
        archetypes: Sequence[Archetype] = (),
        inject: Injection | None = None,
    ) -> None:
        """Build customers and agents; raise :class:`GeneratorArgumentError` on out-of-range
        arguments."""
        if not 0.0 <= zh_share <= 1.0 or not 0.0 <= label_share <= 1.0:
            raise GeneratorArgumentError("zh_share and label_share must be within [0, 1]")
        if customers < 1 or agents < 1:
            raise GeneratorArgumentError("customers and agents must be positive")
        self._seed = seed
        self._start = _to_utc_ms(start or DEFAULT_START)
        self._label_share = label_share
        if inject is not None and (
            inject.need not in INJECTABLE_NEEDS or not 0.0 < inject.share <= 1.0
        ):
            raise GeneratorArgumentError(
                f"inject one of {INJECTABLE_NEEDS} with a share within (0, 1]"
            )
        self._inject = inject
        self._inject_start = _to_utc_ms(inject.start) if inject is not None else None
        setup = random.Random(f"crmstream-setup:{seed}")
        self._customers = _make_customers(setup, customers, zh_share)
        if archetypes:
            self._customers = tuple(
                replace(c, archetype=archetypes[i % len(archetypes)])
                for i, c in enumerate(self._customers)
            )
        self._agents = tuple(_make_agent(setup, i) for i in range(1, agents + 1))
        self._incidents: list[tuple[str, datetime, datetime]] = []
        for incident in incidents:
            low, high = _to_utc_ms(incident.start), _to_utc_ms(incident.end)
            if incident.agent_id not in self.agent_ids:
                raise GeneratorArgumentError(f"incident for unknown agent {incident.agent_id!r}")
            if high < low:
                raise GeneratorArgumentError("incident end is before its start")
            self._incidents.append((incident.agent_id, low, high))

    @property
    def agent_ids(self) -> tuple[str, ...]:
        """Identifiers of all agents, ``agent-001`` first."""
        return tuple(agent.agent_id for agent in self._agents)

    def archetype_of(self, customer_id: str) -> str | None:
        """The name of a customer's archetype (``None`` without archetypes or for a stranger).

        >>> gen = EventGenerator(customers=5, archetypes=ARCHETYPES)
        >>> [gen.archetype_of(f"cust-{i:05d}") for i in (1, 2, 5)]
        ['money_on_the_phone', 'parcels_by_chat', 'money_on_the_phone']
        """
        for customer in self._customers:
            if customer.customer_id == customer_id:
                return customer.archetype.name if customer.archetype else None
        return None

    def conversations(self) -> Iterator[list[GeneratedEvent]]:
        """Yield conversations forever, each as its events in time order.

        Conversation start times are non-decreasing; conversations overlap in time.
        """
        rng = random.Random(f"crmstream-stream:{self._seed}")
        # Its own draws: without an injection the stream is the one it always was.
        injected = random.Random(f"crmstream-inject:{self._seed}")
        moment = self._start
        while True:
            conversation = self._conversation(rng, moment, injected)
            yield conversation
            moment = _after(moment, rng.expovariate(1 / _MEAN_CONVERSATION_GAP))

    def events(self, count: int) -> Iterator[GeneratedEvent]:
        """Yield exactly ``count`` events of interleaved conversations by ``occurred_at``."""
        if count < 0:
            raise GeneratorArgumentError("count must be non-negative")
        heap: list[tuple[str, int, GeneratedEvent]] = []
        stream = self.conversations()
        upcoming, seq = next(stream), itertools.count()
        for _ in range(count):
            # Later conversations start no earlier than `upcoming`, and a conversation's
            # events never precede its start: merge until `upcoming` starts after the head.
            while not heap or upcoming[0].value["occurred_at"] <= heap[0][0]:
                for event in upcoming:
                    heapq.heappush(heap, (event.value["occurred_at"], next(seq), event))
                upcoming = next(stream)
            yield heapq.heappop(heap)[2]

    # -- one conversation -------------------------------------------------------------

    def _conversation(
        self, rng: random.Random, moment: datetime, injected: random.Random | None = None
    ) -> list[GeneratedEvent]:
        conv = self._new_conversation(rng, moment)
        inject, start = self._inject, self._inject_start
        injecting = inject is not None and start is not None and moment >= start
        if injecting and injected is not None and injected.random() < inject.share:  # type: ignore[union-attr]
            conv.need = inject.need  # type: ignore[union-attr]
        agent_mean, customer_mean = _PACE[conv.channel]
        agent_mean *= (1.5 - conv.agent.quality) * (3.0 if conv.incident else 1.0)
        turns = rng.choices((2, 3, 4, 5, 6), (0.3, 0.2, 0.25, 0.1, 0.15))[0]
        events: list[GeneratedEvent] = []
        last_reply: tuple[datetime, str] | None = None
        last_at = moment
        for turn in range(turns):
            last_at = moment
            if turn % 2 == 0:
                conv.waits.append(rng.expovariate(1 / agent_mean))
                events.append(self._inbound(rng, conv, moment, turn // 2, last_reply))
                moment = _after(moment, conv.waits[-1])
            else:
                reply = self._outbound(rng, conv, moment)
                events.append(reply)
                last_reply = (moment, reply.value["text"])
                moment = _after(moment, rng.expovariate(1 / customer_mean))
        if rng.random() < _FEEDBACK_SHARE:
            delay = rng.expovariate(1 / (7200 if conv.channel == "email" else 600))
            events.append(self._feedback(rng, conv, _after(last_at, delay), turns))
        return events

    def _new_conversation(self, rng: random.Random, moment: datetime) -> _Conversation:
        customer, agent = rng.choice(self._customers), rng.choice(self._agents)
        incident = any(a == agent.agent_id and lo <= moment <= hi for a, lo, hi in self._incidents)
        kind = customer.archetype
        return _Conversation(
            conversation_id=f"conv-{rng.getrandbits(64):016x}",
            customer=customer,
            agent=agent,
            need=rng.choices(NEEDS, kind.need_weights() if kind else _NEED_WEIGHTS)[0],
            channel=rng.choices(CHANNELS, kind.channel_weights() if kind else _CHANNEL_WEIGHTS)[0],
            incident=incident,
            slots=_slots(rng, customer.language, moment),
        )

    def _base(self, rng: random.Random, conv: _Conversation, moment: datetime) -> dict[str, Any]:
        return {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "occurred_at": _iso(moment),
            "customer_id": conv.customer.customer_id,
        }

    def _inbound(
        self,
        rng: random.Random,
        conv: _Conversation,
        moment: datetime,
        index: int,
        last_reply: tuple[datetime, str] | None,
    ) -> GeneratedEvent:
        wait = conv.waits[-1]
        priority = _priority(rng, conv, wait)
        body = _inbound_body(rng, conv, index, priority)
        value = self._base(rng, conv, moment)
        value |= {"channel": conv.channel, "direction": "inbound"}
        value["text"] = _dress_inbound(rng, conv, body, last_reply)
        value["conversation_id"] = conv.conversation_id
        if index > 0:  # the agent is assigned by the first reply
            value["agent_id"] = conv.agent.agent_id
        if conv.channel == "email":
            if not conv.subject:
                conv.subject = _pick(rng, _BY_NEED, conv.need, f"{conv.lang}-subject")
                conv.subject = conv.subject.format(**conv.slots)
            value["subject"] = conv.subject if index == 0 else f"Re: {conv.subject}"
        value["language"] = conv.lang
        if rng.random() < self._label_share:
            value["need"] = conv.need
            if rng.random() < 0.92:
                value["priority"] = priority
        value["metadata"] = {"customer_tier": conv.customer.tier, "wait_seconds": round(wait)}
        return GeneratedEvent("communication", conv.customer.customer_id, value)

    def _outbound(
        self, rng: random.Random, conv: _Conversation, moment: datetime
    ) -> GeneratedEvent:
        lang = conv.lang
        if conv.incident and rng.random() < 0.8:
            text = _pick(rng, _COMMON, lang, "bad-reply")
        else:
            name = conv.customer.name if lang == "zh" else conv.customer.name.split()[0]
            greeting = _pick(rng, _COMMON, lang, "greeting").format(name=name)
            body = _pick(rng, _BY_NEED, conv.need, f"{lang}-reply").format(**conv.slots)
            text = f"{greeting} {body}" if lang == "en" else greeting + body
        agent_name = conv.agent.name_zh if lang == "zh" else conv.agent.name_en
        if conv.channel == "email":
            sign = f"祝好，\n客服{agent_name}" if lang == "zh" else f"Best regards,\n{agent_name}"
            text = f"{text}\n\n{sign}"
        elif conv.channel == "phone":
            text = ("坐席：" if lang == "zh" else "Agent: ") + text
        value = self._base(rng, conv, moment)
        value |= {"channel": conv.channel, "direction": "outbound", "text": text}
        value |= {"conversation_id": conv.conversation_id, "agent_id": conv.agent.agent_id}
        if conv.channel == "email":
            value["subject"] = f"Re: {conv.subject}"
        value |= {"language": lang, "metadata": {"customer_tier": conv.customer.tier}}
        return GeneratedEvent("communication", conv.customer.customer_id, value)

    def _feedback(
        self, rng: random.Random, conv: _Conversation, moment: datetime, turns: int
    ) -> GeneratedEvent:
        satisfaction = _satisfaction(rng, conv, turns)
        if rng.random() < (0.55 - satisfaction) * (2.0 if conv.need == "complaint" else 1.0):
            kind, score, low, high = "complaint", 1, 1, 5
        else:
            kind = rng.choices(_FEEDBACK_KINDS, _FEEDBACK_WEIGHTS)[0]
            low, high = (0, 10) if kind == "nps" else (1, 5)
            score = low + round((high - low) * satisfaction)
        normalized = (score - low) / (high - low)
        mood = "negative" if normalized <= 0.35 else "positive" if normalized >= 0.7 else "neutral"
        comment = _pick(rng, _COMMON, conv.lang, f"comment-{mood}")
        if kind in ("csat", "nps") and rng.random() < 0.3:
            comment = ""
        value = self._base(rng, conv, moment)
        value |= {"conversation_id": conv.conversation_id, "agent_id": conv.agent.agent_id}
        value |= {"kind": kind, "score": score, "scale": {"min": low, "max": high}}
        value |= {"comment": comment, "language": conv.lang}
        if rng.random() < 0.5:
            value["need"] = conv.need
        return GeneratedEvent("feedback", conv.customer.customer_id, value)


# --------------------------------------------------------------------------------------
# Helpers of the generator
# --------------------------------------------------------------------------------------


def _make_customers(rng: random.Random, count: int, zh_share: float) -> tuple[_Customer, ...]:
    """Create customers; exactly ``round(count * zh_share)`` of them write Chinese."""
    zh_flags = [i < round(count * zh_share) for i in range(count)]
    rng.shuffle(zh_flags)
    customers = []
    for i, is_zh in enumerate(zh_flags, start=1):
        tier = rng.choices(_TIERS, _TIER_WEIGHTS)[0]
        if is_zh:
            name, pinyin = rng.choice(_ZH_NAMES).split()
            domain = rng.choice(("qq.com", "163.com", "126.com"))
            email = f"{pinyin}{rng.randint(1970, 2005)}@{domain}"
        else:
            name, last = rng.choice(_EN_FIRST), rng.choice(_EN_LAST)
            domain = rng.choice(("example.com", "mail.example.org", "gmail.com"))
            email = f"{name}.{last}{rng.randint(1, 99)}@{domain}".lower()
        lang: _Lang = "zh" if is_zh else "en"
        customers.append(_Customer(f"cust-{i:05d}", tier, lang, name, email))
    return tuple(customers)


def _make_agent(rng: random.Random, index: int) -> _Agent:
    quality = 0.3 + 0.7 * rng.betavariate(4, 2)
    name_zh = "小" + rng.choice(_ZH_SURNAMES)
    return _Agent(f"agent-{index:03d}", quality, rng.choice(_EN_FIRST), name_zh)


def _slots(rng: random.Random, lang: _Lang, moment: datetime) -> dict[str, str]:
    """Values for template slots, stable across one conversation."""
    past = moment - timedelta(days=rng.randint(1, 20))
    amount = rng.uniform(9, 400)
    zh = lang == "zh"
    return {
        "order": ("" if zh else "#") + rng.choice("ABCDK") + _digits(rng, 5),
        "product": _pick(rng, _COMMON, lang, "product"),
        "plan": _pick(rng, _COMMON, lang, "plan"),
        "amount": f"{amount:.2f}元" if zh else f"{rng.choice('$€£')}{amount:.2f}",
        "date": f"{past.month}月{past.day}日" if zh else f"{_MONTHS[past.month - 1]} {past.day}",
        "days": str(rng.randint(2, 14)),
        "error": f"E-{rng.randrange(100, 1000)}",
    }


def _priority(rng: random.Random, conv: _Conversation, wait: float) -> str:
    """P1..P4 from the need, the customer tier, the wait and noise."""
    score = _NEED_PRIORITY.get(conv.need, 0.5) + _TIER_PRIORITY[conv.customer.tier]
    score += 0.8 * min(1.0, wait / (3 * _PACE[conv.channel][0])) + rng.gauss(0, 0.35)
    return "P1" if score >= 1.4 else "P2" if score >= 0.9 else "P3" if score >= 0.4 else "P4"


def _inbound_body(rng: random.Random, conv: _Conversation, index: int, priority: str) -> str:
    """Need text (or a follow-up / ambiguous line), plus urgency wording and PII."""
    lang, sep = conv.lang, " " if conv.lang == "en" else ""
    roll = rng.random()
    if index > 0 and roll < 0.45:
        body = _pick(rng, _COMMON, lang, "follow-up")
    elif roll > 1 - _AMBIGUOUS_SHARE:
        body = _pick(rng, _COMMON, lang, "ambiguous").format(**conv.slots)
    else:
        body = _pick(rng, _BY_NEED, conv.need, lang).format(**conv.slots)
    if rng.random() < _URGENT_PROBABILITY[priority]:
        prefix = _pick(rng, _COMMON, lang, "urgent-prefix") + sep if rng.random() < 0.5 else ""
        body = f"{prefix}{body}{sep}{_pick(rng, _COMMON, lang, 'urgent-suffix')}"
    if rng.random() < _PII_SHARE:
        body += sep + _pii_sentence(rng, conv.customer)
    return body


def _pii_sentence(rng: random.Random, customer: _Customer) -> str:
    makers: dict[str, Callable[[], str]] = {
        "email": lambda: customer.email,
        "phone": lambda: _intl_phone(rng),
        "mobile": lambda: _cn_mobile(rng),
        "card": lambda: _card_number(rng),
        "iban": lambda: _iban(rng),
        "cn_id": lambda: _cn_id(rng),
    }
    lang = customer.language
    kind = rng.choice([k for k in makers if (lang, f"pii-{k}") in _COMMON])
    return _pick(rng, _COMMON, lang, f"pii-{kind}").format(v=makers[kind]())


def _dress_inbound(
    rng: random.Random, conv: _Conversation, body: str, last_reply: tuple[datetime, str] | None
) -> str:
    """Wrap the body as the channel renders it (email layout, phone transcript, chat style)."""
    lang = conv.lang
    opener = _pick(rng, _COMMON, lang, "opener") if rng.random() < 0.6 else ""
    closer = _pick(rng, _COMMON, lang, "closer") if rng.random() < 0.5 else ""
    closer = "" if conv.channel == "phone" else closer
    if conv.channel == "email":
        text = "\n\n".join(p for p in (opener, body, closer) if p)
        text += f"\n\n--\n{conv.customer.name}"
        if last_reply is not None and rng.random() < 0.6:
            text += "\n\n" + _quote(lang, *last_reply)
        return text
    text = (" " if lang == "en" else "").join(p for p in (opener, body, closer) if p)
    if conv.channel == "phone":
        if lang == "zh":
            return "坐席：您好，请问有什么可以帮您？ 客户：" + text
        return "Agent: Thank you for calling, how can I help? Customer: " + text
    if conv.channel in ("chat", "sms", "social") and lang == "en" and rng.random() < 0.25:
        text = text.lower().rstrip(".!")
    return text


def _quote(lang: _Lang, moment: datetime, text: str) -> str:
    """Render a quoted previous reply as mail clients do."""
    quoted = "\n".join(f"> {line}" if line else ">" for line in text.splitlines())
    sender = "Support <support@example.com>"
    if lang == "zh":
        header = f"在 {moment.year}年{moment.month}月{moment.day}日 {moment:%H:%M}，{sender} 写道："
    else:
        day = f"{_WEEKDAYS[moment.weekday()]}, {moment.day} {_MONTHS[moment.month - 1]}"
        header = f"On {day} {moment.year} at {moment:%H:%M}, {sender} wrote:"
    return f"{header}\n{quoted}"


def _satisfaction(rng: random.Random, conv: _Conversation, turns: int) -> float:
    """Latent satisfaction in [0, 1] from agent quality, need, waits, turns and incidents."""
    wait_ratio = sum(conv.waits) / len(conv.waits) / _PACE[conv.channel][0]
    score = 0.3 + 0.75 * conv.agent.quality - _NEED_PENALTY.get(conv.need, 0.08)
    score -= 0.15 * min(2.0, max(0.0, wait_ratio - 1.0)) + 0.05 * (turns - 2)
    score -= 0.5 if conv.incident else 0.0
    score += conv.customer.archetype.satisfaction if conv.customer.archetype else 0.0
    return min(1.0, max(0.0, score + rng.gauss(0, 0.12)))
