"""Produce events to crmstream's input topics (used by ``generate``, ``demo`` and tests)."""

from __future__ import annotations

import asyncio
import time
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
    rate: float | None = None,
) -> int:
    """Send ``(topic, key, value)`` messages; wait until all are acknowledged. Returns the count.

    ``rate`` paces the sending to that many messages per second (None: as fast as possible).
    """
    producer = AIOKafkaProducer(
        **client_options(settings), acks="all", linger_ms=5, max_batch_size=256 * 1024
    )
    await producer.start()
    sent = 0
    try:
        pending = []
        started = time.monotonic()
        for count, (topic, key, value) in enumerate(messages, 1):
            pending.append(await producer.send(topic, value=value, key=key))
            if rate is not None and (ahead := count / rate - (time.monotonic() - started)) > 0:
                await asyncio.sleep(ahead)
            if len(pending) >= (1000 if rate is None else max(1, int(rate))):
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
