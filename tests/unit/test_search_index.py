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
