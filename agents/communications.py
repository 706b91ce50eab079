"""``crm.communications`` → edge checks → Elasticsearch + ``crm.communications.scored``.

Batches are taken with their Kafka positions; the batch is acknowledged (and
its offsets become committable) only when the agent asks for the next one, that
is after :meth:`streams.sinks.CommunicationSink.deliver` returned.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from streams import metrics
from streams.app import app, communications_topic, edge, settings
from streams.pipeline import Incoming
from streams.search_index import create_async_client
from streams.sinks import CommunicationSink, KafkaPublisher


def incoming(event: Any) -> Incoming:
    """The pipeline's view of a Faust event."""
    message = event.message
    return Incoming(message.value, message.key, message.topic, message.partition, message.offset)


@app.agent(communications_topic)
async def score_communications(stream: Any) -> None:
    es = create_async_client(settings)
    sink = CommunicationSink(settings, es, KafkaPublisher(app))
    try:
        async for events in stream.take_events(
            settings.batch_max_events, within=settings.batch_max_wait_s
        ):
            messages = [incoming(e) for e in events]
            metrics.EVENTS_IN.labels(communications_topic.get_topic_name()).inc(len(messages))
            now = datetime.now(UTC)
            await sink.deliver(edge.communications(messages, now=now), now=now)
    finally:
        await es.close()
