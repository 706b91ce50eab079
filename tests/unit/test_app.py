"""The Faust application's consumer: delivered offsets only, prompt fetches."""

from __future__ import annotations

import asyncio

from streams.app import PromptFetchConsumerThread, app, settings
from streams.offsets import DeliveredOffsetsConsumer


def test_the_worker_fetches_with_its_own_wait_not_fausts_fixed_one() -> None:
    worker_consumer = app.consumer
    assert isinstance(worker_consumer, DeliveredOffsetsConsumer)

    async def fetch_wait_ms() -> int:
        thread = worker_consumer._thread
        assert isinstance(thread, PromptFetchConsumerThread)
        consumer = thread._create_worker_consumer(app.transport)  # built, not started
        return int(consumer._fetch_max_wait_ms)

    # Faust's own consumer thread would say 1,500 whatever the setting.
    assert asyncio.run(fetch_wait_ms()) == settings.kafka_fetch_max_wait_ms
