from __future__ import annotations

from datetime import UTC, datetime

from config.settings import Settings
from crmstream.infra.fetch import _dependency_xml
from streams.search_index import communications_index, communications_template


def test_index_is_derived_from_the_event_time_so_replays_hit_the_same_document() -> None:
    settings = Settings()
    when = datetime(2026, 1, 31, 23, 59, tzinfo=UTC)
    assert communications_index(settings, when) == "crm-communications-2026.01"
    assert communications_index(Settings(namespace="ns"), when) == "ns-crm-communications-2026.01"


def test_template_pattern_and_alias_follow_the_namespace() -> None:
    template = communications_template(Settings(namespace="ns"))
    assert template["index_patterns"] == ["ns-crm-communications-*"]
    assert template["template"]["aliases"] == {"ns-crm-communications": {}}
    assert template["template"]["mappings"]["dynamic"] == "strict"
    assert "_comment" not in template


def test_every_scored_field_is_mapped() -> None:
    from schemas.events import ScoredCommunication

    properties = communications_template(Settings())["template"]["mappings"]["properties"]
    assert set(ScoredCommunication.model_fields) <= set(properties)


def test_maven_coordinates_with_and_without_type() -> None:
    assert "<type>zip</type>" in _dependency_xml(
        "org.elasticsearch.distribution.integ-test-zip:elasticsearch:9.2.0:zip"
    )
    assert "<type>jar</type>" in _dependency_xml("org.apache.kafka:kafka_2.13:4.1.1")


def test_all_templates_follow_the_namespace_and_are_strict() -> None:
    from streams.search_index import TEMPLATE_FILES, index_template

    for alias in TEMPLATE_FILES:
        template = index_template(Settings(namespace="ns"), alias)
        assert template["index_patterns"] == [f"ns-{alias}-*"]
        assert template["template"]["aliases"] == {f"ns-{alias}": {}}
        assert template["template"]["mappings"]["dynamic"] == "strict"


def test_alert_dead_letter_and_feedback_fields_are_mapped() -> None:
    from schemas.events import Alert, DeadLetter, FeedbackEvent
    from streams.search_index import ALERTS_ALIAS, DEADLETTER_ALIAS, FEEDBACK_ALIAS, index_template

    for alias, model, extra in (
        (ALERTS_ALIAS, Alert, set()),
        (DEADLETTER_ALIAS, DeadLetter, set()),
        (FEEDBACK_ALIAS, FeedbackEvent, {"rating"}),
    ):
        properties = index_template(Settings(), alias)["template"]["mappings"]["properties"]
        assert set(model.model_fields) | extra <= set(properties), alias


def test_indexed_dead_letters_are_redacted_but_the_topic_keeps_the_bytes() -> None:
    from schemas.events import DeadLetter, SourcePosition
    from streams.redaction import Redactor
    from streams.sinks import searchable_dead_letter, to_json

    letter = DeadLetter(
        reason="not_json",
        message="message is not JSON",
        source=SourcePosition(topic="crm.communications", partition=0, offset=9),
        key="jane@example.com",
        original="{oops, write to jane@example.com or +1 415 555 0132",
        original_encoding="utf-8",
        failed_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    document = searchable_dead_letter(letter, Redactor())
    assert "jane@example.com" not in str(document) and "555 0132" not in str(document)
    assert "[EMAIL]" in document["original"] and document["reason"] == "not_json"
    assert b"jane@example.com" in to_json(letter, exclude_none=False)  # the topic keeps it all
    binary = letter.model_copy(update={"original": "/wA=", "original_encoding": "base64"})
    assert searchable_dead_letter(binary, Redactor())["original"] is None
