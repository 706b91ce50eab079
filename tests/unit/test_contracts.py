from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import jsonschema
import orjson
import pytest
from pydantic import ValidationError

from models.emerging import EmergingNeeds
from models.features import Example
from schemas.events import SCHEMA_VERSION, EmergingNeed, FeedbackEvent, LabelEvent
from schemas.export import CONTRACTS, JSON_DIR, json_schema, render
from schemas.parsing import EdgeLimits, InvalidEvent, parse_event

NOW = datetime(2026, 3, 1, tzinfo=UTC)
FEEDBACK = {
    "event_id": "f-1",
    "occurred_at": "2026-02-28T10:00:00Z",
    "customer_id": "c-1",
    "kind": "csat",
    "score": 2,
    "scale": {"min": 1, "max": 5},
}


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_exported_json_schemas_match_the_models(name: str) -> None:
    path = JSON_DIR / f"{name}.json"
    assert path.exists(), f"run `crmstream schemas export` to create {path}"
    assert path.read_text() == render(name), f"{path} drifted: run `crmstream schemas export`"


def test_schemas_carry_their_version() -> None:
    for name in CONTRACTS:
        schema = json_schema(name)
        assert schema["x-schema-version"] == SCHEMA_VERSION
        assert schema["$id"].endswith(f":{name}:{SCHEMA_VERSION}")
    assert JSON_DIR.name == f"v{SCHEMA_VERSION.split('.')[0]}"


@pytest.mark.parametrize(
    ("kind", "score", "scale", "expected"),
    [
        ("csat", 5, (1, 5), 1.0),
        ("csat", 1, (1, 5), 0.0),
        ("nps", 7, (0, 10), 0.7),
        ("stars", 3, (1, 5), 0.5),
    ],
)
def test_feedback_scores_normalize_to_unit_interval(
    kind: str, score: float, scale: tuple[int, int], expected: float
) -> None:
    event = FeedbackEvent.model_validate(
        {**FEEDBACK, "kind": kind, "score": score, "scale": {"min": scale[0], "max": scale[1]}}
    )
    assert event.normalized_score() == pytest.approx(expected)


@pytest.mark.parametrize(
    "change",
    [
        {"score": 6},  # off its scale
        {"scale": {"min": 5, "max": 1}},  # upside-down scale
        {"kind": "tweet"},  # unknown kind
        {"score": "lots"},
    ],
)
def test_bad_feedback_is_refused(change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        FeedbackEvent.model_validate({**FEEDBACK, **change})


def test_a_label_must_say_something() -> None:
    with pytest.raises(ValidationError, match="at least one"):
        LabelEvent.model_validate({"event_id": "e1", "labelled_by": "ana"})
    label = LabelEvent.model_validate({"event_id": "e1", "labelled_by": "ana", "need": "refund"})
    assert label.need == "refund"
    with pytest.raises(ValidationError):
        LabelEvent.model_validate({"event_id": "e1", "labelled_by": "ana", "satisfaction": 1.5})


def test_text_over_the_hard_limit_is_refused_with_its_size() -> None:
    limits = EdgeLimits(text_max_bytes=2048)
    event = {**FEEDBACK, "comment": "退" * 1000}  # 3,000 bytes in UTF-8
    with pytest.raises(InvalidEvent) as caught:
        parse_event(orjson.dumps(event), FeedbackEvent, now=NOW, limits=limits)
    assert caught.value.reason == "text_too_long"
    assert "3000 bytes" in caught.value.message
    ok = {**FEEDBACK, "comment": "退" * 600}
    assert parse_event(orjson.dumps(ok), FeedbackEvent, now=NOW, limits=limits).comment


def test_timestamps_far_in_the_future_are_refused() -> None:
    soon = (NOW + timedelta(hours=1)).isoformat()
    later = (NOW + timedelta(days=3)).isoformat()
    assert parse_event(orjson.dumps({**FEEDBACK, "occurred_at": soon}), FeedbackEvent, now=NOW)
    with pytest.raises(InvalidEvent) as caught:
        parse_event(orjson.dumps({**FEEDBACK, "occurred_at": later}), FeedbackEvent, now=NOW)
    assert caught.value.reason == "future_timestamp"


def test_schema_files_are_valid_json_with_required_fields() -> None:
    schema = json.loads((JSON_DIR / "communication-event.json").read_text())
    assert set(schema["required"]) == {
        "event_id", "occurred_at", "customer_id", "channel", "direction", "text",
    }  # fmt: skip


def test_an_emerging_need_event_follows_its_contract() -> None:
    """What the learner publishes on crm.model-events for an emerging need: the detector's
    event, validated by EmergingNeed, and valid against the exported JSON Schema."""
    detector = EmergingNeeds(warmup_s=0, warmup_labels=2, min_size=4)
    for _ in range(20):
        detector.learn_one(Example("where is my parcel, delivery late"), "delivery")
        detector.learn_one(Example("refund my money for the order"), "refund")
    events = [
        detector.observe(Example(f"app crashes at login screen {i}"), key=f"e{i}", at=i)
        for i in range(6)
    ]
    [event] = [e for e in events if e is not None]
    record = EmergingNeed.model_validate(asdict(event)).model_dump(mode="json")
    assert record["kind"] == "emerging_need" and record["trigger"] == "new"
    assert record["examples"][0] == {"event_id": "e0", "text": "app crashes at login screen 0"}
    jsonschema.validate(record, json.loads((JSON_DIR / "emerging-need.json").read_text()))
    with pytest.raises(ValidationError):
        EmergingNeed.model_validate({**record, "trigger": "sudden"})
