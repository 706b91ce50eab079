"""Conversation turns and response time: a conversation's first unanswered inbound
message and the time until the reply to it.

Pure: a :class:`Turn` is what the response-time agent keeps per conversation, and
:func:`answer` turns the next message into a response time
(:func:`streams.deltas.deltas_from_response` makes the alerts' input of it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from schemas.events import ScoredCommunication
from streams.aggregates import to_ms

__all__ = ["Turn", "answer"]


@dataclass(frozen=True)
class Turn:
    """One message of a conversation, as far as response time is concerned."""

    conversation_id: str
    direction: Literal["inbound", "outbound"]
    at_ms: int
    customer_id: str
    agent_id: str | None
    channel: str
    need: str | None

    @classmethod
    def from_communication(cls, record: ScoredCommunication) -> Turn | None:
        """The record's turn, or None when it belongs to no conversation."""
        if record.conversation_id is None:
            return None
        return cls(
            conversation_id=record.conversation_id,
            direction="inbound" if record.direction == "inbound" else "outbound",
            at_ms=to_ms(record.occurred_at),
            customer_id=record.customer_id,
            agent_id=record.agent_id,
            channel=record.channel.value,
            need=record.need,
        )

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Turn:
        try:
            turn = cls(**data)
        except TypeError as exc:
            raise ValueError(f"bad turn {data!r}: {exc}") from exc
        if turn.direction not in ("inbound", "outbound"):
            raise ValueError(f"bad turn direction {turn.direction!r}")
        return turn


def answer(pending: Turn | None, turn: Turn) -> tuple[Turn | None, float | None]:
    """Track a conversation's first unanswered inbound message; time the reply to it.

    Returns the new pending turn and the response time in seconds (None if ``turn``
    answered nothing). An outbound message older than the pending inbound one (it
    arrived out of order) answers nothing.

    >>> def t(direction, at_s):
    ...     return Turn("cv1", direction, at_s * 1000, "c1", "a1", "chat", None)
    >>> pending, _ = answer(None, t("inbound", 0))
    >>> pending, _ = answer(pending, t("inbound", 30))      # still waiting since 0 s
    >>> answer(pending, t("outbound", 90))
    (None, 90.0)
    >>> answer(None, t("outbound", 90))
    (None, None)
    """
    if turn.direction == "inbound":
        if pending is None or turn.at_ms < pending.at_ms:
            return turn, None
        return pending, None
    if pending is not None and turn.at_ms >= pending.at_ms:
        return None, (turn.at_ms - pending.at_ms) / 1000
    return pending, None
