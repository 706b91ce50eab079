"""The running cluster as the commands, the demo and the bench meet it.

Setting it up before anything is produced or consumed (credentials, topics, index
templates), where the learner's input ends, and publishing a warm-started model
bundle as the newest snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from config.settings import Settings

log = logging.getLogger(__name__)


async def prepare_cluster(settings: Settings, *, wait_s: float = 120.0) -> None:
    """Check our credentials, create missing topics and install index templates (idempotent).

    A refused credential or certificate raises :class:`streams.access.AccessError` at once.
    """
    from streams.access import check_elasticsearch_access, check_kafka_access
    from streams.search_index import create_client, install_templates
    from streams.topics import TopicSetupError, ensure_topics

    await check_kafka_access(settings)
    await asyncio.to_thread(check_elasticsearch_access, settings)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            await ensure_topics(settings)
            client = create_client(settings)
            try:
                install_templates(client, settings)
            finally:
                client.close()
            return
        except TopicSetupError:  # the broker answered: asking again changes nothing
            raise
        except Exception as error:  # servers may still be starting: retry until the deadline
            if time.monotonic() > deadline:
                raise
            log.warning("cluster not ready (%s); retrying", error)
            await asyncio.sleep(2)


async def training_end_offset(settings: Settings) -> int:
    """The end offset of ``crm.training`` (its one partition): what the learner has to reach."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from streams.kafka import client_options
    from streams.topics import TRAINING

    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(settings.topic_name(TRAINING), 0)
        return int((await consumer.end_offsets([partition]))[partition])
    finally:
        await consumer.stop()


async def publish_warm_start(settings: Settings, learned: dict[str, Any]) -> tuple[int, int]:
    """Publish the models learned from history as the newest snapshot; (version, bytes).

    The snapshot takes the version of the training topic's current end, so the learner
    resumes after it.
    """
    from models.bundle import ModelBundle
    from streams.model_sync import SnapshotPublisher

    bundle = ModelBundle()
    for name, model in learned.items():
        setattr(bundle, name, model)
    # The history stands for everything the topic holds so far: the learner resumes at its end.
    bundle.learned_until(await training_end_offset(settings))
    publisher = SnapshotPublisher(settings)
    await publisher.start()
    try:
        return bundle.version, await publisher.publish(bundle)
    finally:
        await publisher.stop()
