"""Event contracts: what crmstream accepts on its input topics and what it emits."""

from schemas.events import (
    SCHEMA_VERSION,
    Channel,
    CommunicationEvent,
    DeadLetter,
    Direction,
    ScoredCommunication,
)
from schemas.parsing import InvalidEvent, parse_communication

__all__ = [
    "SCHEMA_VERSION",
    "Channel",
    "CommunicationEvent",
    "DeadLetter",
    "Direction",
    "InvalidEvent",
    "ScoredCommunication",
    "parse_communication",
]
