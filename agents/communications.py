"""``crm.communications`` → edge checks → models → Elasticsearch + ``crm.communications.scored``.

Batches are taken with their Kafka positions; the batch is acknowledged (and
its offsets become committable) only when the agent asks for the next one, that
is after the sinks returned. Every cleaned communication also goes to
``crm.training`` for the learner (:mod:`agents.learner`), packed per batch
(:mod:`streams.training`), and the scored batch
feeds the live alerts (:mod:`agents.alerts`): its partial aggregates and its
conversation turns, and the customer profiles (:mod:`agents.customers`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from agents.alerts import AGGREGATES_TOPIC, TURNS_TOPIC, delta_messages, turn_messages
from agents.customers import CONTACTS_TOPIC, contact_messages, customer_segments, load_assigned
from schemas.events import ScoredCommunication
from streams import metrics
from streams.app import alert_engine, app, communications_topic, edge, live_model, settings
from streams.deltas import deltas_from_communications
from streams.offsets import delivered_batches
from streams.pipeline import Accepted, Incoming, score_batch
from streams.profiles import communication_contact
from streams.search_index import create_async_client
from streams.sinks import CommunicationSink, KafkaPublisher, Outgoing
from streams.topics import TRAINING
from streams.training import pack_training
from streams.transactions import ExactlyOnce


def incoming(event: Any) -> Incoming:
    """The pipeline's view of a Faust event."""
    message = event.message
    return Incoming(message.value, message.key, message.topic, message.partition, message.offset)


def observe_end_to_end(topic: str, events: Sequence[Any]) -> None:
    """Seconds from each input message's Kafka timestamp (produce time) to now."""
    histogram = metrics.END_TO_END_SECONDS.labels(topic)
    done = time.time()
    for event in events:
        histogram.observe(max(0.0, done - event.message.timestamp))


async def measured_batches(stream: Any, topic: str, agent: str) -> AsyncIterator[list[Incoming]]:
    """An input's batches (:func:`streams.offsets.delivered_batches`) as the pipeline's
    messages, measured: events in when taken; once the agent comes back for the next
    batch (its sinks returned), the seconds it took and each event's produce-to-done time.
    """
    processing = metrics.PROCESSING_SECONDS.labels(agent)
    async for events in delivered_batches(
        stream, settings.batch_max_events, settings.batch_max_wait_s
    ):
        started = time.perf_counter()
        metrics.EVENTS_IN.labels(topic).inc(len(events))
        yield [incoming(e) for e in events]
        observe_end_to_end(topic, events)
        processing.observe(time.perf_counter() - started)


def observe_satisfaction(records: Sequence[ScoredCommunication]) -> None:
    for record in records:
        if record.satisfaction is not None and record.direction == "inbound":
            metrics.PREDICTED_SATISFACTION.labels(record.channel.value).observe(record.satisfaction)


def training_messages(kind: str, accepted: list[Accepted[Any]]) -> list[Outgoing]:
    """The batch's training records, packed for the learner (:mod:`streams.training`)."""
    return [Outgoing(None, value) for value in pack_training(kind, [a.record for a in accepted])]


@app.agent(communications_topic)
async def score_communications(stream: Any) -> None:
    es = create_async_client(settings)
    publisher = KafkaPublisher(app)
    topic = communications_topic.get_topic_name()
    exactly_once = ExactlyOnce(settings, app.consumer, topic) if settings.exactly_once else None
    transactions = exactly_once.output if exactly_once is not None else None
    sink = CommunicationSink(settings, es, publisher, edge.redactor, transactions)
    training_topic = settings.topic_name(TRAINING)
    try:
        async for messages in measured_batches(stream, topic, "score_communications"):
            next_offsets = None
            if exactly_once is not None:  # what this batch's transactions may take
                messages, next_offsets = exactly_once.take(messages)
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
            # acknowledged before the next batch is taken (and its offsets committed).
            await asyncio.gather(
                publisher.publish(training_topic, training),
                sink.deliver(result, now=now, next_offsets=next_offsets),
                publisher.publish(AGGREGATES_TOPIC, delta_messages(deltas)),
                publisher.publish(TURNS_TOPIC, turn_messages(scored)),
                publisher.publish(CONTACTS_TOPIC, contact_messages(contacts)),
            )
    finally:
        await es.close()
        if exactly_once is not None:
            await exactly_once.close()
