"""``crm.feedback`` and ``crm.labels`` → check at the edge; bad messages → ``crm.deadletter``.

Valid feedback and labels are what the online models learn from; the learning
agents consume the validated records these agents produce in memory.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agents.communications import incoming
from streams import metrics
from streams.app import app, edge, feedback_topic, labels_topic, settings
from streams.sinks import DeadLetterSink, KafkaPublisher


@app.agent(feedback_topic)
async def check_feedback(stream: Any) -> None:
    dead_letters = DeadLetterSink(settings, KafkaPublisher(app))
    async for events in stream.take_events(
        settings.batch_max_events, within=settings.batch_max_wait_s
    ):
        messages = [incoming(e) for e in events]
        metrics.EVENTS_IN.labels(feedback_topic.get_topic_name()).inc(len(messages))
        result = edge.feedback(messages, now=datetime.now(UTC))
        await dead_letters.deliver(result.dead)


@app.agent(labels_topic)
async def check_labels(stream: Any) -> None:
    dead_letters = DeadLetterSink(settings, KafkaPublisher(app))
    async for events in stream.take_events(
        settings.batch_max_events, within=settings.batch_max_wait_s
    ):
        messages = [incoming(e) for e in events]
        metrics.EVENTS_IN.labels(labels_topic.get_topic_name()).inc(len(messages))
        result = edge.labels(messages, now=datetime.now(UTC))
        await dead_letters.deliver(result.dead)
