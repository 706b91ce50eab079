"""Export the contracts as JSON Schema files, for consumers in any language.

``crmstream schemas export`` writes them into ``schemas/json/v<major>/``; a test
fails when the files on disk drift from the models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from schemas.events import (
    SCHEMA_VERSION,
    Alert,
    CommunicationEvent,
    DeadLetter,
    EmergingNeed,
    FeedbackEvent,
    LabelEvent,
    ScoredCommunication,
)

CONTRACTS: dict[str, type[BaseModel]] = {
    "communication-event": CommunicationEvent,
    "feedback-event": FeedbackEvent,
    "label-event": LabelEvent,
    "scored-communication": ScoredCommunication,
    "alert": Alert,
    "dead-letter": DeadLetter,
    "emerging-need": EmergingNeed,
}

JSON_DIR = Path(__file__).resolve().parent / "json" / f"v{SCHEMA_VERSION.split('.')[0]}"


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one contract, with its id and version."""
    model = CONTRACTS[name]
    mode: Literal["validation", "serialization"] = (
        "validation" if name.endswith("-event") else "serialization"
    )
    schema = model.model_json_schema(mode=mode)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:crmstream:schema:{name}:{SCHEMA_VERSION}",
        "x-schema-version": SCHEMA_VERSION,
        **schema,
    }


def render(name: str) -> str:
    return json.dumps(json_schema(name), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def export(directory: Path = JSON_DIR) -> list[Path]:
    """Write every contract's schema file; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in CONTRACTS:
        path = directory / f"{name}.json"
        path.write_text(render(name))
        paths.append(path)
    return paths
