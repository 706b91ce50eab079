"""Forgetting a customer on request (``crmstream forget CUSTOMER_ID``): the records, no I/O.

A customer's state lives on several partitions of several internal topics, and a
table may only be changed by the agent that owns the key's partition (its changelog
goes to the partition of the event being processed). So the command does not touch
the tables: it publishes a :class:`Forget` record keyed like the state to erase
(``crm.customer-contacts`` by customer, ``crm.alert-aggregates`` by
``customer:<id>``, ``crm.conversation-turns`` by each conversation), and a
``forget`` training message that makes the learner drop the customer's examples from
its join memory. Each agent, meeting the record in order with the key's other
records, drops the state and writes an audit document of what it removed.

>>> record = forget_record("r1", "customer:c1", "c1")
>>> decode = or_forget(lambda raw: raw["n"])
>>> [decode(r) for r in ({"n": 1}, orjson.loads(record))]
[1, Forget(request_id='r1', key='customer:c1', customer_id='c1')]
>>> after_last_forget([1, Forget("r1", "c1", "c1"), 2, 3])
(Forget(request_id='r1', key='c1', customer_id='c1'), [2, 3])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import orjson

T = TypeVar("T")

#: The ``type`` of a training message asking the learner to forget examples.
TRAINING_TYPE = "forget"


@dataclass(frozen=True, slots=True)
class Forget:
    """Erase the state stored under ``key`` (request ``request_id``)."""

    request_id: str
    key: str
    customer_id: str = ""


def forget_record(request_id: str, key: str, customer_id: str) -> bytes:
    return orjson.dumps({"forget": request_id, "key": key, "customer_id": customer_id})


def or_forget(decode: Callable[[Any], T]) -> Callable[[Any], T | Forget]:
    """``decode``, except that a forget record becomes a :class:`Forget`."""

    def decoded(raw: Any) -> T | Forget:
        if isinstance(raw, Mapping) and "forget" in raw:
            return Forget(str(raw["forget"]), str(raw["key"]), str(raw.get("customer_id", "")))
        return decode(raw)

    return decoded


def after_last_forget(items: Sequence[T | Forget]) -> tuple[Forget | None, list[T]]:
    """The last forget request among a key's records, and the records that came after it
    (those before it are forgotten with the state)."""
    last: Forget | None = None
    kept: list[T] = []
    for item in items:
        if isinstance(item, Forget):
            last, kept = item, []
        else:
            kept.append(item)
    return last, kept


def training_forget(
    request_id: str, event_ids: Sequence[str], conversation_ids: Sequence[str]
) -> bytes:
    """The ``crm.training`` message asking the learner to drop these examples.

    >>> orjson.loads(training_forget("r1", ["e1"], ["k1"]))["records"]
    [{'request_id': 'r1', 'event_ids': ['e1'], 'conversation_ids': ['k1']}]
    """
    record = {
        "request_id": request_id,
        "event_ids": list(event_ids),
        "conversation_ids": list(conversation_ids),
    }
    return orjson.dumps({"v": 2, "type": TRAINING_TYPE, "records": [record]})


def audit_document(
    request_id: str,
    customer_id: str,
    component: str,
    removed: Mapping[str, int],
    at: datetime,
    detail: str = "",
) -> tuple[str, dict[str, Any]]:
    """The id and body of one audit document: what one component removed for a request.

    >>> from datetime import UTC
    >>> audit_document("r1", "c1", "profile", {"profiles": 1}, datetime(2026, 1, 1, tzinfo=UTC))
    ... # doctest: +NORMALIZE_WHITESPACE
    ('r1:profile', {'request_id': 'r1', 'customer_id': 'c1', 'component': 'profile',
     'removed': {'profiles': 1}, 'at': '2026-01-01T00:00:00+00:00', 'detail': ''})
    """
    return f"{request_id}:{component}", {
        "request_id": request_id,
        "customer_id": customer_id,
        "component": component,
        "removed": dict(removed),
        "at": at.isoformat(),
        "detail": detail,
    }
