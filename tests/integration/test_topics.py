"""crmstream's topics on the real broker: refused creations stop start-up, replication
follows the broker's default, existing topics are checked against the settings.

Each test works in a namespace of its own and deletes the topics it made.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from config.settings import Settings
from crmstream.infra import LocalServer
from streams.kafka import client_options
from streams.topics import (
    DEADLETTER,
    TOPICS,
    TRAINING,
    TopicSetupError,
    delete_topics,
    ensure_topics,
    expected_partitions,
    verify_topics,
)
from tests.conftest import free_port, start_scoped_worker
from tests.integration.support import wait_until


@pytest.fixture
def fresh(local_servers: list[LocalServer]) -> Iterator[Settings]:
    """Settings for a namespace with no topics yet; whatever the test made is deleted."""
    settings = Settings(namespace=f"tp{uuid.uuid4().hex[:10]}")
    try:
        yield settings
    finally:
        asyncio.run(delete_topics(settings))


async def _admin_call(settings: Settings, call: Any) -> Any:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        return await call(admin)
    finally:
        await admin.close()


def namespace_topics(settings: Settings) -> set[str]:
    async def names(admin: AIOKafkaAdminClient) -> list[str]:
        return list(await admin.list_topics())

    topics = asyncio.run(_admin_call(settings, names))
    return {t for t in topics if t.startswith(f"{settings.namespace}.")}


def replicas_and_partitions(settings: Settings) -> dict[str, tuple[int, set[int]]]:
    """Each of the namespace's topics: its partition count and its partitions' replica counts."""

    async def describe(admin: AIOKafkaAdminClient) -> list[dict[str, Any]]:
        names = [settings.topic_name(s.name) for s in TOPICS]
        return list(await admin.describe_topics(names))

    return {
        t["topic"]: (len(t["partitions"]), {len(p["replicas"]) for p in t["partitions"]})
        for t in asyncio.run(_admin_call(settings, describe))
        if t["error_code"] == 0
    }


def broker_default_replication(settings: Settings) -> int:
    async def read(admin: AIOKafkaAdminClient) -> int:
        broker = (await admin.describe_cluster())["brokers"][0]["node_id"]
        resource = ConfigResource(
            ConfigResourceType.BROKER, str(broker), {"default.replication.factor": None}
        )
        (response,) = await admin.describe_configs([resource])
        (entry,) = response.to_object()["resources"][0]["config_entries"]
        return int(entry["config_value"])

    return int(asyncio.run(_admin_call(settings, read)))


def test_an_impossible_replication_factor_fails_with_one_line_naming_topic_error_and_setting(
    fresh: Settings,
) -> None:
    # The local cluster has one broker: two replicas cannot be placed.
    settings = fresh.model_copy(update={"topic_replication_factor": 2})
    with pytest.raises(TopicSetupError) as raised:
        asyncio.run(ensure_topics(settings))
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"cannot create Kafka topic {settings.topic_name(TOPICS[0].name)} ")
    assert f"and {len(TOPICS) - 1} more" in message
    assert "INVALID_REPLICATION_FACTOR" in message
    assert "CRMSTREAM_TOPIC_REPLICATION_FACTOR=2" in message
    assert "the cluster has 1 broker(s)" in message
    assert namespace_topics(settings) == set(), "no topic may exist after a refused creation"


def test_by_default_topics_get_the_brokers_default_replication(fresh: Settings) -> None:
    assert fresh.topic_replication_factor is None  # the setting's default: the broker's
    created = asyncio.run(ensure_topics(fresh))
    assert sorted(created) == sorted(fresh.topic_name(s.name) for s in TOPICS)

    default = broker_default_replication(fresh)
    described = replicas_and_partitions(fresh)
    assert described == {
        fresh.topic_name(s.name): (expected_partitions(fresh, s), {default}) for s in TOPICS
    }
    # Again: nothing to create, and they pass the check as configured.
    assert asyncio.run(ensure_topics(fresh)) == []
    asyncio.run(verify_topics(fresh))


def test_an_existing_topic_with_other_partitions_stops_start_up(fresh: Settings) -> None:
    training = fresh.topic_name(TRAINING)

    async def create(admin: AIOKafkaAdminClient) -> None:
        await admin.create_topics([NewTopic(training, 3, 1)])

    asyncio.run(_admin_call(fresh, create))
    with pytest.raises(TopicSetupError) as raised:
        asyncio.run(ensure_topics(fresh))
    message = str(raised.value)
    assert message.startswith(f"Kafka topic {training}: has 3 partition(s), crmstream needs 1 (")
    assert "CRMSTREAM_TOPIC_PARTITIONS=6" in message
    # The other topics were created as configured.
    described = replicas_and_partitions(fresh)
    assert len(described) == len(TOPICS)
    assert described[training][0] == 3  # left as the operator made it


def test_a_topic_with_fewer_replicas_than_its_min_insync_replicas_is_warned_about(
    fresh: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    deadletter = fresh.topic_name(DEADLETTER)

    async def create(admin: AIOKafkaAdminClient) -> None:
        await admin.create_topics(
            [NewTopic(deadletter, 1, 1, topic_configs={"min.insync.replicas": "2"})]
        )

    asyncio.run(_admin_call(fresh, create))
    with caplog.at_level(logging.WARNING, logger="streams.topics"):
        asyncio.run(ensure_topics(fresh))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"Kafka topic {deadletter} has 1 replica(s), fewer than its min.insync.replicas=2: "
        "the broker refuses every write with acks=all (NOT_ENOUGH_REPLICAS)"
    ]


def test_the_worker_does_not_start_on_an_impossible_replication_factor(
    fresh: Settings, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "CRMSTREAM_NAMESPACE": fresh.namespace,
        "CRMSTREAM_WORKER_WEB_PORT": str(free_port()),
        "CRMSTREAM_LEARNER_WEB_PORT": str(free_port()),
        "CRMSTREAM_TOPIC_REPLICATION_FACTOR": "4",
    }
    # Bounded: the worker must give up at once, not retry until its 120 s deadline.
    done = subprocess.run(
        [sys.executable, "-m", "crmstream", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    lines = [line for line in output.splitlines() if "not starting:" in line]
    assert len(lines) == 1, output
    (line,) = lines
    assert "[CRITICAL]" in line
    assert f"cannot create Kafka topic {fresh.topic_name(TOPICS[0].name)} " in line
    assert "INVALID_REPLICATION_FACTOR" in line
    assert "CRMSTREAM_TOPIC_REPLICATION_FACTOR=4" in line
    assert "Traceback" not in output
    assert "retrying" not in output
    assert namespace_topics(fresh) == set()


def readyz(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_readyz_reports_a_topic_deleted_under_a_running_worker(
    scoped: Settings, tmp_path: Path
) -> None:
    worker = start_scoped_worker(scoped, tmp_path / "worker.log")
    port = int(worker.env["CRMSTREAM_WORKER_WEB_PORT"])
    try:
        wait_until(lambda: readyz(port)[0] == 200, timeout_s=90, what="/readyz 200")
        deadletter = scoped.topic_name(DEADLETTER)

        async def delete(admin: AIOKafkaAdminClient) -> None:
            await admin.delete_topics([deadletter])

        asyncio.run(_admin_call(scoped, delete))

        def not_ready() -> dict[str, Any]:
            status, body = readyz(port)
            return body if status == 503 else {}

        body = wait_until(not_ready, timeout_s=90, what="/readyz 503 after the topic was deleted")
        assert any(
            p.startswith(f"Kafka topic {deadletter}: does not exist in the cluster metadata")
            for p in body["problems"]
        ), body
    finally:
        worker.stop()
