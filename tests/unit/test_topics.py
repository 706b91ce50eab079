"""How crmstream asks Kafka for its topics (the real broker's answers: tests/integration)."""

from __future__ import annotations

from config.settings import Settings
from streams.topics import TOPICS, _CreateTopicsRequest, creation_request


def test_unset_replication_asks_for_the_brokers_default_and_partitions_stay_explicit() -> None:
    settings = Settings(_env_file=None)
    assert settings.topic_replication_factor is None
    requests = [creation_request(settings, spec) for spec in TOPICS]
    assert {r[2] for r in requests} == {-1}
    assert [r[1] for r in requests] == [spec.partitions or 6 for spec in TOPICS]


def test_a_set_replication_factor_is_sent_as_is() -> None:
    settings = Settings(_env_file=None, topic_replication_factor=3)
    assert {creation_request(settings, spec)[2] for spec in TOPICS} == {3}


def test_create_topics_goes_out_as_v4_when_the_broker_speaks_it() -> None:
    # v4 (KIP-464) is the version that defines -1 as "the broker's default"; Kafka 4.1
    # offers CreateTopics v2 to v7, a broker older than 2.4 only up to v3.
    request = _CreateTopicsRequest([creation_request(Settings(), TOPICS[0])], 30_000)
    assert request.prepare({19: (2, 7)}).API_VERSION == 4
    assert request.prepare({19: (0, 3)}).API_VERSION == 3
