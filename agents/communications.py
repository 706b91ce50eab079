"""``crm.communications`` → edge checks → models → Elasticsearch + ``crm.communications.scored``.

Batches are taken with their Kafka positions; the batch is acknowledged (and
its offsets become committable) only when the agent asks for the next one, that
is after the sinks returned. Every cleaned communication also goes to
``crm.training`` for the learner (:mod:`agents.learner`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from streams import metrics
from streams.app import app, communications_topic, edge, live_model, settings
from streams.pipeline import Accepted, Incoming, training_example, with_scores
from streams.search_index import create_async_client
from streams.sinks import CommunicationSink, KafkaPublisher, Outgoing
from streams.topics import TRAINING


def incoming(event: Any) -> Incoming:
    """The pipeline's view of a Faust event."""
    message = event.message
    return Incoming(message.value, message.key, message.topic, message.partition, message.offset)


def training_messages(kind: str, accepted: list[Accepted[Any]]) -> list[Outgoing]:
    return [Outgoing(None, orjson.dumps(training_example(kind, a.record))) for a in accepted]


@app.agent(communications_topic)
async def score_communications(stream: Any) -> None:
    es = create_async_client(settings)
    publisher = KafkaPublisher(app)
    sink = CommunicationSink(settings, es, publisher, edge.redactor)
    training_topic = settings.topic_name(TRAINING)
    try:
        async for events in stream.take_events(
            settings.batch_max_events, within=settings.batch_max_wait_s
        ):
            messages = [incoming(e) for e in events]
            metrics.EVENTS_IN.labels(communications_topic.get_topic_name()).inc(len(messages))
            now = datetime.now(UTC)
            result = edge.communications(messages, now=now)
            await publisher.publish(
                training_topic, training_messages("communication", result.accepted)
            )
            bundle = live_model.bundle  # one version for the whole batch
            result.accepted = [
                Accepted(a.message, with_scores(a.record, bundle)) for a in result.accepted
            ]
            await sink.deliver(result, now=now)
    finally:
        await es.close()
