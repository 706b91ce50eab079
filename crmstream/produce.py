"""Produce events to crmstream's input topics (used by ``generate``, ``demo`` and tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from config.settings import Settings
from crmstream.generator import GeneratedEvent
from streams.kafka import client_options
from streams.topics import COMMUNICATIONS, FEEDBACK

TOPIC_FOR_KIND = {"communication": COMMUNICATIONS, "feedback": FEEDBACK}


def event_topic(settings: Settings, event: GeneratedEvent) -> str:
    return settings.topic_name(TOPIC_FOR_KIND[event.kind])


async def produce(
    settings: Settings,
    messages: Iterable[tuple[str, bytes | None, bytes | None]],
    *,
    on_sent: Callable[[int], Any] | None = None,
) -> int:
    """Send ``(topic, key, value)`` messages; wait until all are acknowledged. Returns the count."""
    producer = AIOKafkaProducer(
        **client_options(settings), acks="all", linger_ms=5, max_batch_size=256 * 1024
    )
    await producer.start()
    sent = 0
    try:
        pending = []
        for topic, key, value in messages:
            pending.append(await producer.send(topic, value=value, key=key))
            if len(pending) >= 1000:
                for future in pending:
                    await future
                if on_sent:
                    on_sent(len(pending))
                sent += len(pending)
                pending.clear()
        for future in pending:
            await future
        if on_sent and pending:
            on_sent(len(pending))
        sent += len(pending)
    finally:
        await producer.stop()
    return sent


def encode_events(
    settings: Settings, events: Iterable[GeneratedEvent]
) -> Iterable[tuple[str, bytes | None, bytes | None]]:
    """Generated events as Kafka messages: keyed by customer, JSON values."""
    for event in events:
        yield event_topic(settings, event), event.key.encode(), orjson.dumps(event.value)
