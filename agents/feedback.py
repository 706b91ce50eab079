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
from agents.communications import training_messages
from agents.customers import CONTACTS_TOPIC, contact_messages
from schemas.events import FeedbackEvent
from streams import metrics
from streams.app import alert_engine, app, edge, settings
from streams.deltas import deltas_from_feedback
from streams.pipeline import BatchResult, Incoming
from streams.profiles import contact_from_rating
from streams.search_index import create_async_client
from streams.sinks import DeadLetterSink, FeedbackSink, KafkaPublisher
from streams.topics import TRAINING

Check = Callable[[Sequence[Incoming], datetime], BatchResult[Any]]


class CheckAndForward:
    """Checks a batch at the edge; valid records to the learner, bad ones to dead letters."""

    def __init__(self, kind: str, check: Check) -> None:
        self.kind = kind
        self.check = check
        self.publisher = KafkaPublisher(app)
        self.es = create_async_client(settings)
        self.dead_letters = DeadLetterSink(settings, self.publisher, self.es, edge.redactor)
        self.ratings_index = FeedbackSink(settings, self.es)
        self.training_topic = settings.topic_name(TRAINING)

    async def __call__(self, messages: list[Incoming]) -> None:
        result = self.check(messages, datetime.now(UTC))
        ratings = [a.record for a in result.accepted if isinstance(a.record, FeedbackEvent)]
        for rating in ratings:
            metrics.RATED_SATISFACTION.labels(rating.kind.value).observe(rating.normalized_score())
        deltas = deltas_from_feedback(ratings, alert_engine.spec)
        contacts = [
            contact_from_rating(a.record, a.message.partition, a.message.offset).keyed()
            for a in result.accepted
            if isinstance(a.record, FeedbackEvent)
        ]
        training = training_messages(self.kind, result.accepted)
        await asyncio.gather(  # all acknowledged before the batch's offsets are committed
            self.publisher.publish(self.training_topic, training),
            self.publisher.publish(AGGREGATES_TOPIC, delta_messages(deltas)),
            self.publisher.publish(CONTACTS_TOPIC, contact_messages(contacts)),
            self.dead_letters.deliver(result.dead),
            self.ratings_index.deliver(ratings),
        )

    async def close(self) -> None:
        await self.es.close()


def check_feedback() -> CheckAndForward:
    return CheckAndForward("feedback", lambda m, now: edge.feedback(m, now=now))


def check_labels() -> CheckAndForward:
    return CheckAndForward("label", lambda m, now: edge.labels(m, now=now))
