"""``crm.feedback``, ``crm.labels`` → edge checks → ``crm.training``; bad ones → ``crm.deadletter``.

Valid feedback and labels are what the online models learn from: they go to
the learner, which joins them to the communications they refer to. Ratings are
also indexed in ``crm-feedback`` (comments redacted) for analysts and for
``crmstream similar``, which suggests replies from conversations rated well.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from agents.alerts import AGGREGATES_TOPIC, delta_messages
from agents.communications import measured_batches, training_messages
from agents.customers import CONTACTS_TOPIC, contact_messages
from schemas.events import FeedbackEvent
from streams import metrics
from streams.app import alert_engine, app, edge, feedback_topic, labels_topic, settings
from streams.deltas import deltas_from_feedback
from streams.pipeline import BatchResult, Incoming
from streams.profiles import contact_from_rating
from streams.search_index import create_async_client
from streams.sinks import DeadLetterSink, FeedbackSink, KafkaPublisher
from streams.topics import TRAINING

Check = Callable[[Sequence[Incoming], datetime], BatchResult[Any]]


async def check_and_forward(stream: Any, topic_name: str, kind: str, check: Check) -> None:
    """Check each batch at the edge; valid records to the learner, bad ones to dead letters."""
    publisher = KafkaPublisher(app)
    es = create_async_client(settings)
    dead_letters = DeadLetterSink(settings, publisher, es, edge.redactor)
    ratings_index = FeedbackSink(settings, es)
    training_topic = settings.topic_name(TRAINING)
    try:
        async for messages in measured_batches(stream, topic_name, f"check_{kind}"):
            result = check(messages, datetime.now(UTC))
            ratings = [a.record for a in result.accepted if isinstance(a.record, FeedbackEvent)]
            for rating in ratings:
                metrics.RATED_SATISFACTION.labels(rating.kind.value).observe(
                    rating.normalized_score()
                )
            deltas = deltas_from_feedback(ratings, alert_engine.spec)
            contacts = [
                contact_from_rating(a.record, a.message.partition, a.message.offset).keyed()
                for a in result.accepted
                if isinstance(a.record, FeedbackEvent)
            ]
            await asyncio.gather(  # all acknowledged before the next batch is taken
                publisher.publish(training_topic, training_messages(kind, result.accepted)),
                publisher.publish(AGGREGATES_TOPIC, delta_messages(deltas)),
                publisher.publish(CONTACTS_TOPIC, contact_messages(contacts)),
                dead_letters.deliver(result.dead),
                ratings_index.deliver(ratings),
            )
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
