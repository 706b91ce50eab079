"""``crm.feedback``, ``crm.labels`` → edge checks → ``crm.training``; bad ones → ``crm.deadletter``.

Valid feedback and labels are what the online models learn from: they go to
the learner, which joins them to the communications they refer to.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agents.communications import incoming, training_messages
from streams import metrics
from streams.app import app, edge, feedback_topic, labels_topic, settings
from streams.sinks import DeadLetterSink, KafkaPublisher
from streams.topics import TRAINING


@app.agent(feedback_topic)
async def check_feedback(stream: Any) -> None:
    publisher = KafkaPublisher(app)
    dead_letters = DeadLetterSink(settings, publisher)
    async for events in stream.take_events(
        settings.batch_max_events, within=settings.batch_max_wait_s
    ):
        messages = [incoming(e) for e in events]
        metrics.EVENTS_IN.labels(feedback_topic.get_topic_name()).inc(len(messages))
        result = edge.feedback(messages, now=datetime.now(UTC))
        training = training_messages("feedback", result.accepted)
        await publisher.publish(settings.topic_name(TRAINING), training)
        await dead_letters.deliver(result.dead)


@app.agent(labels_topic)
async def check_labels(stream: Any) -> None:
    publisher = KafkaPublisher(app)
    dead_letters = DeadLetterSink(settings, publisher)
    async for events in stream.take_events(
        settings.batch_max_events, within=settings.batch_max_wait_s
    ):
        messages = [incoming(e) for e in events]
        metrics.EVENTS_IN.labels(labels_topic.get_topic_name()).inc(len(messages))
        result = edge.labels(messages, now=datetime.now(UTC))
        await publisher.publish(
            settings.topic_name(TRAINING), training_messages("label", result.accepted)
        )
        await dead_letters.deliver(result.dead)
