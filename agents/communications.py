"""``crm.communications`` → edge checks → models → Elasticsearch + ``crm.communications.scored``.

:class:`ScoreCommunications` handles a batch read by :mod:`streams.inputs` (which
commits its offsets once the handler returned, that is after the sinks did). Every
cleaned communication also goes to ``crm.training`` for the learner
(:mod:`agents.learner`), packed per batch (:mod:`streams.training`), and the scored
batch feeds the live alerts (:mod:`agents.alerts`): its partial aggregates and its
conversation turns, and the customer profiles (:mod:`agents.customers`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from agents.alerts import AGGREGATES_TOPIC, TURNS_TOPIC, delta_messages, turn_messages
from agents.customers import CONTACTS_TOPIC, contact_messages, customer_segments, load_assigned
from schemas.events import ScoredCommunication
from streams import metrics
from streams.app import alert_engine, app, edge, live_model, settings
from streams.deltas import deltas_from_communications
from streams.inputs import input_group_id
from streams.pipeline import Accepted, Incoming, score_batch
from streams.profiles import communication_contact
from streams.search_index import create_async_client
from streams.sinks import CommunicationSink, KafkaPublisher, Outgoing
from streams.topics import COMMUNICATIONS, TRAINING
from streams.training import pack_training
from streams.transactions import ExactlyOnce


def observe_satisfaction(records: Sequence[ScoredCommunication]) -> None:
    for record in records:
        if record.satisfaction is not None and record.direction == "inbound":
            metrics.PREDICTED_SATISFACTION.labels(record.channel.value).observe(record.satisfaction)


def training_messages(kind: str, accepted: list[Accepted[Any]]) -> list[Outgoing]:
    """The batch's training records, packed for the learner (:mod:`streams.training`)."""
    return [Outgoing(None, value) for value in pack_training(kind, [a.record for a in accepted])]


class ScoreCommunications:
    """Scores a batch of communications and delivers it everywhere it goes."""

    def __init__(self) -> None:
        self.topic = settings.topic_name(COMMUNICATIONS)
        self.es = create_async_client(settings)
        self.publisher = KafkaPublisher(app)
        self.exactly_once = (
            ExactlyOnce(settings, self.topic, input_group_id(settings))
            if settings.exactly_once
            else None
        )
        transactions = self.exactly_once.output if self.exactly_once is not None else None
        self.sink = CommunicationSink(
            settings, self.es, self.publisher, edge.redactor, transactions
        )
        self.training_topic = settings.topic_name(TRAINING)

    async def __call__(self, messages: list[Incoming]) -> None:
        next_offsets = None
        if self.exactly_once is not None:  # what this batch's transactions may take
            messages, next_offsets = self.exactly_once.take(messages)
        now = datetime.now(UTC)
        result = edge.communications(messages, now=now)
        scorer = live_model.scorer  # one version for the whole batch
        load_assigned()  # the customers' segments, after a start or a rebalance
        records = score_batch([a.record for a in result.accepted], scorer, customer_segments)
        result.accepted = [
            Accepted(a.message, r) for a, r in zip(result.accepted, records, strict=True)
        ]
        # Scored first: the learner clusters only texts the scorer could not place.
        training = training_messages("communication", result.accepted)
        scored = [a.record for a in result.accepted]
        observe_satisfaction(scored)
        deltas = deltas_from_communications(scored, alert_engine.spec)
        contacts = map(communication_contact, scored)
        # Independent destinations: their round trips overlap, and all of them are
        # acknowledged before the batch's offsets are committed.
        await asyncio.gather(
            self.publisher.publish(self.training_topic, training),
            self.sink.deliver(result, now=now, next_offsets=next_offsets),
            self.publisher.publish(AGGREGATES_TOPIC, delta_messages(deltas)),
            self.publisher.publish(TURNS_TOPIC, turn_messages(scored)),
            self.publisher.publish(CONTACTS_TOPIC, contact_messages(contacts)),
        )

    async def close(self) -> None:
        await self.es.close()
        if self.exactly_once is not None:
            await self.exactly_once.close()
