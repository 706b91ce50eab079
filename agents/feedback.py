"""``crm.feedback``, ``crm.labels`` → edge checks → ``crm.training``; bad ones → ``crm.deadletter``.

Valid feedback and labels are what the online models learn from: they go to
the learner, which joins them to the communications they refer to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from agents.communications import incoming, training_messages
from streams import metrics
from streams.app import app, edge, feedback_topic, labels_topic, settings
from streams.pipeline import BatchResult, Incoming
from streams.search_index import create_async_client
from streams.sinks import DeadLetterSink, KafkaPublisher
from streams.topics import TRAINING

Check = Callable[[Sequence[Incoming], datetime], BatchResult[Any]]


async def check_and_forward(stream: Any, topic_name: str, kind: str, check: Check) -> None:
    """Check each batch at the edge; valid records to the learner, bad ones to dead letters."""
    publisher = KafkaPublisher(app)
    es = create_async_client(settings)
    dead_letters = DeadLetterSink(settings, publisher, es, edge.redactor)
    training_topic = settings.topic_name(TRAINING)
    try:
        async for events in stream.take_events(
            settings.batch_max_events, within=settings.batch_max_wait_s
        ):
            messages = [incoming(e) for e in events]
            metrics.EVENTS_IN.labels(topic_name).inc(len(messages))
            result = check(messages, datetime.now(UTC))
            await publisher.publish(training_topic, training_messages(kind, result.accepted))
            await dead_letters.deliver(result.dead)
    finally:
        await es.close()


@app.agent(feedback_topic)
async def check_feedback(stream: Any) -> None:
    await check_and_forward(
        stream,
        feedback_topic.get_topic_name(),
        "feedback",
        lambda m, now: edge.feedback(m, now=now),
    )


@app.agent(labels_topic)
async def check_labels(stream: Any) -> None:
    await check_and_forward(
        stream, labels_topic.get_topic_name(), "label", lambda m, now: edge.labels(m, now=now)
    )
