"""Event contracts: what crmstream accepts on its input topics and what it emits.

The models are in :mod:`schemas.events`, the checks at the edge in
:mod:`schemas.parsing`, and the JSON Schemas exported from the models in
``schemas/json/`` (:mod:`schemas.export`).
"""

from schemas.events import (
    SCHEMA_VERSION,
    Alert,
    Channel,
    CommunicationEvent,
    DeadLetter,
    Direction,
    FeedbackEvent,
    LabelEvent,
    ScoredCommunication,
)
from schemas.parsing import EdgeLimits, InvalidEvent, parse_event

__all__ = [
    "SCHEMA_VERSION",
    "Alert",
    "Channel",
    "CommunicationEvent",
    "DeadLetter",
    "Direction",
    "EdgeLimits",
    "FeedbackEvent",
    "InvalidEvent",
    "LabelEvent",
    "ScoredCommunication",
    "parse_event",
]
