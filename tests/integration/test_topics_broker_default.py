"""Replication follows the broker's own default: shown on a broker of our own.

On the shared single node, ``default.replication.factor`` is 1, which is also what
a hard-coded 1 would give. This broker (one node, started and stopped here, on
ports of its own) defaults to 2 replicas, which one node cannot give: a topic
created with "the broker's default" must be refused for it, and an explicit
``CRMSTREAM_TOPIC_REPLICATION_FACTOR=1`` must still work.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator
from typing import ClassVar

import pytest

from config.settings import Settings
from crmstream.infra.servers import KafkaServer
from streams.topics import TOPICS, TopicSetupError, delete_topics, ensure_topics, verify_topics


class KafkaDefaultingToTwoReplicas(KafkaServer):
    name = "kafka-default-rf2"
    extra_properties: ClassVar[dict[str, str]] = {"default.replication.factor": "2"}


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def client_and_controller_ports() -> int:
    """A free client port whose controller port (client + 1000) is free too."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + 1000 < 65536 and _free(port + 1000):
            return port
    raise RuntimeError("no free pair of ports")


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = Settings(
        kafka_bootstrap_servers=f"127.0.0.1:{client_and_controller_ports()}",
        state_dir=tmp_path_factory.mktemp("own-kafka"),
        kafka_heap="256m",
    )
    server = KafkaDefaultingToTwoReplicas(settings)
    assert server.start(), "a broker already answered on the fresh port"
    try:
        yield settings
    finally:
        server.stop()


def test_unset_replication_is_the_brokers_default(own_broker: Settings) -> None:
    settings = own_broker.model_copy(update={"namespace": f"tb{uuid.uuid4().hex[:10]}"})
    assert settings.topic_replication_factor is None
    try:
        with pytest.raises(TopicSetupError) as raised:
            asyncio.run(ensure_topics(settings))
        message = str(raised.value)
        assert "INVALID_REPLICATION_FACTOR" in message
        assert "replication factor of 2 cannot be reached" in message
        assert (
            "CRMSTREAM_TOPIC_REPLICATION_FACTOR unset (the broker default, "
            "default.replication.factor=2)" in message
        )

        explicit = settings.model_copy(update={"topic_replication_factor": 1})
        created = asyncio.run(ensure_topics(explicit))
        assert sorted(created) == sorted(settings.topic_name(s.name) for s in TOPICS)
        asyncio.run(verify_topics(explicit))
    finally:
        asyncio.run(delete_topics(settings))
