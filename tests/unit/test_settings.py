from __future__ import annotations

import faust
import pytest
from pydantic import ValidationError

from config.settings import Settings
from streams.kafka import client_options, faust_credentials


def test_namespace_prefixes_topics_indices_and_group() -> None:
    plain = Settings(namespace="")
    assert plain.topic_name("crm.communications") == "crm.communications"
    assert plain.index_name("crm-communications") == "crm-communications"
    spaced = Settings(namespace="blue")
    assert spaced.topic_name("crm.alerts") == "blue.crm.alerts"
    assert spaced.index_name("crm-alerts") == "blue-crm-alerts"
    assert spaced.app_id == "blue-crmstream" != plain.app_id


def test_namespace_must_be_safe_for_topic_and_index_names() -> None:
    with pytest.raises(ValidationError):
        Settings(namespace="Has Spaces")


def test_settings_come_from_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMSTREAM_KAFKA_BOOTSTRAP_SERVERS", "kafka-1.prod:9093,kafka-2.prod:9093")
    monkeypatch.setenv("CRMSTREAM_BATCH_MAX_EVENTS", "42")
    settings = Settings()
    assert settings.kafka_bootstrap_servers == "kafka-1.prod:9093,kafka-2.prod:9093"
    assert settings.batch_max_events == 42
    assert not settings.kafka_is_local


def test_local_versus_remote_servers() -> None:
    assert Settings().kafka_is_local and Settings().elasticsearch_is_local
    remote = Settings(
        kafka_bootstrap_servers="127.0.0.1:9092,broker.example:9092",
        elasticsearch_url="https://es.example:9243",
        prometheus_url="http://[::1]:9090",
    )
    assert not remote.kafka_is_local
    assert not remote.elasticsearch_is_local
    assert remote.prometheus_is_local


def test_secrets_never_appear_in_repr_or_str(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMSTREAM_KAFKA_SASL_PASSWORD", "kafka-s3cret")
    monkeypatch.setenv("CRMSTREAM_ELASTICSEARCH_API_KEY", "es-api-s3cret")
    monkeypatch.setenv("CRMSTREAM_ELASTICSEARCH_PASSWORD", "es-pw-s3cret")
    settings = Settings()
    shown = repr(settings) + str(settings) + str(settings.model_dump())
    for secret in ("kafka-s3cret", "es-api-s3cret", "es-pw-s3cret"):
        assert secret not in shown


def test_sasl_options_reach_the_kafka_clients() -> None:
    settings = Settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="svc",
        kafka_sasl_password="pw",
    )
    options = client_options(settings)
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("svc", "pw")
    assert "ssl_context" not in options
    credentials = faust_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.username == "svc"


def test_plaintext_has_no_credentials() -> None:
    assert faust_credentials(Settings()) is None
    assert set(client_options(Settings())) == {"bootstrap_servers", "security_protocol"}
