"""Live satisfaction alerts: ``crm.alert-aggregates`` → windows per key → ``crm.alerts``.

The scoring agents turn each batch into partial aggregates per (dimension, key,
window bucket) and publish them keyed by what they describe (``agent:a17``), so
all of one key's aggregates meet on one partition, where :data:`alert_state`
keeps its windows, baselines and alert episodes (RocksDB, recovered from the
changelog after a restart). Response times need the conversation: turns are
published keyed by conversation to ``crm.conversation-turns``, where the first
unanswered inbound turn waits in :data:`conversations` for the reply.

Keys that go silent are dropped (:mod:`streams.expiry`, idle times in
``config/alerts.yml`` under ``state``): an alert still firing for one is resolved as
``no_data``, and an inbound turn nobody answered in time stops waiting.

The rules themselves (:mod:`streams.alert_config`, applied by
:mod:`streams.alert_engine`) are pure; this module only moves data between Kafka,
the tables and the sinks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from schemas.events import Alert, ScoredCommunication
from streams import metrics
from streams.alert_engine import AlertEngine
from streams.app import (
    active_alerts,
    alert_aggregates_topic,
    alert_engine,
    alert_state,
    allow_batch_table_writes,
    app,
    conversation_turns_topic,
    conversations,
    settings,
)
from streams.conversations import Turn, answer
from streams.deltas import Delta, delta_from_dict, delta_key, deltas_from_response, encode_delta
from streams.expiry import IdleKeys
from streams.forget import Forget, after_last_forget, or_forget
from streams.grouping import group_by_key, in_turns, last_event_per_partition
from streams.internals import set_current_event
from streams.kafka import partition_for
from streams.offsets import delivered_batches
from streams.search_index import create_async_client
from streams.sinks import AlertSink, KafkaPublisher, Outgoing, packed, write_audit

log = logging.getLogger(__name__)

T = TypeVar("T")

AGGREGATES_TOPIC = alert_aggregates_topic.get_topic_name()
TURNS_TOPIC = conversation_turns_topic.get_topic_name()

# Per partition, each key's newest event time: which state can be dropped.
idle_alert_keys = IdleKeys(lambda key: alert_engine.idle_ms(_dimension_of(key)))
_UNANSWERED_MS = int(alert_engine.rules.state.unanswered_turn_max_age * 1000)
unanswered_turns = IdleKeys(lambda key: _UNANSWERED_MS)


def _dimension_of(key: str) -> Any:
    """``"agent:a17"`` -> ``"agent"`` (the keys of :data:`alert_state`)."""
    return key.split(":", 1)[0]


@app.on_partitions_revoked.connect
async def _forget_revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
    """Partitions given up are rebuilt from their table if they come back."""
    revoked = args[0] if args else kwargs.get("revoked", ())
    idle_alert_keys.drop_partitions(tp.partition for tp in revoked if tp.topic == AGGREGATES_TOPIC)
    unanswered_turns.drop_partitions(tp.partition for tp in revoked if tp.topic == TURNS_TOPIC)


def delta_messages(deltas: Iterable[Delta]) -> list[Outgoing]:
    """Deltas as Kafka records, leaving out dimensions no rule looks at."""
    records = (
        (delta_key(d.dimension, d.key), encode_delta(d))
        for d in deltas
        if d.dimension in alert_engine.dimensions
    )
    return packed(records, settings.topic_partitions)


def turn_messages(records: Iterable[ScoredCommunication]) -> list[Outgoing]:
    """The conversation turns of a scored batch (records without a conversation have none)."""
    turns = (Turn.from_communication(r) for r in records)
    return packed(
        ((t.conversation_id.encode(), orjson.dumps(t.to_dict())) for t in turns if t),
        settings.topic_partitions,
    )


def _delta_key(delta: Delta | Forget) -> str:
    if isinstance(delta, Forget):
        return delta.key
    return delta_key(delta.dimension, delta.key).decode()


@app.agent(conversation_turns_topic)
async def track_conversations(stream: Any) -> None:
    allow_batch_table_writes()
    publisher = KafkaPublisher(app)
    es = create_async_client(settings)
    try:
        async for events in delivered_batches(
            stream, settings.batch_max_events, settings.batch_max_wait_s
        ):
            await _track_conversations(stream, events, publisher, es)
    finally:
        await es.close()


async def _track_conversations(
    stream: Any, events: Any, publisher: KafkaPublisher, es: Any
) -> None:
    """One batch of conversation turns (and forget requests): pending turns, response times."""
    deltas: list[Delta] = []
    forgotten: list[tuple[Forget, str, dict[str, int]]] = []
    grouped = group_by_key(events, or_forget(Turn.from_dict), _turn_key)
    _rebuild_if_needed(unanswered_turns, TURNS_TOPIC, grouped, conversations, _pending_at)
    async for key, (event, items) in in_turns(grouped.items()):
        set_current_event(stream, event)  # see streams.grouping
        partition = event.message.partition
        stored = conversations.get(key)
        forget, turns = after_last_forget(items)
        if forget is not None:
            if stored is not None:
                del conversations[key]
            unanswered_turns.forget(partition, key)
            forgotten.append((forget, forget.customer_id, {"pending_turns": int(bool(stored))}))
            stored = None
        if not turns:
            continue
        pending = Turn.from_dict(stored) if stored else None
        for turn in sorted(turns, key=lambda t: t.at_ms):
            before = pending
            pending, seconds = answer(pending, turn)
            if seconds is not None and before is not None:
                deltas.extend(deltas_from_response(before, turn, seconds, alert_engine.spec))
        unanswered_turns.advance(partition, max(t.at_ms for t in turns))
        if pending is None:
            unanswered_turns.forget(partition, key)
            if stored is not None:
                del conversations[key]
        else:
            unanswered_turns.seen(partition, key, pending.at_ms)
            if stored != pending.to_dict():
                conversations[key] = pending.to_dict()
    for partition, event in last_event_per_partition(grouped).items():
        set_current_event(stream, event)
        _drop_unanswered(partition)
    metrics.TABLE_KEYS.labels("conversations").set(unanswered_turns.size())
    await publisher.publish(AGGREGATES_TOPIC, delta_messages(deltas))
    if forgotten:
        await write_audit(es, settings, "conversations", forgotten, datetime.now(UTC), per_key=True)


def _turn_key(item: Turn | Forget) -> str:
    return item.key if isinstance(item, Forget) else item.conversation_id


@app.agent(alert_aggregates_topic)
async def evaluate_alerts(stream: Any) -> None:
    allow_batch_table_writes()
    es = create_async_client(settings)
    sink = AlertSink(settings, KafkaPublisher(app), es)
    try:
        async for events in delivered_batches(
            stream, settings.batch_max_events, settings.batch_max_wait_s
        ):
            now = datetime.now(UTC)
            alerts: list[Alert] = []
            forgotten: list[tuple[Forget, str, dict[str, int]]] = []
            grouped = group_by_key(events, or_forget(delta_from_dict), _delta_key)
            _rebuild_if_needed(idle_alert_keys, AGGREGATES_TOPIC, grouped, alert_state, _state_at)
            async for key, (event, items) in in_turns(grouped.items()):
                set_current_event(stream, event)  # see streams.grouping
                forget, deltas = after_last_forget(items)
                if forget is not None:
                    removed = _forget_state(key, event.message.partition)
                    forgotten.append((forget, forget.customer_id, removed))
                if not deltas:
                    continue
                try:
                    alerts.extend(_evaluate(key, deltas, now, event.message.partition))
                except Exception:  # one key's bug must not stop everyone's alerts
                    log.exception("alert evaluation failed for %s", key)
            for partition, event in last_event_per_partition(grouped).items():
                set_current_event(stream, event)
                alerts.extend(_expire_idle(partition, now))
            metrics.TABLE_KEYS.labels("alert-state").set(idle_alert_keys.size())
            await sink.deliver(alerts)
            if forgotten:
                await write_audit(es, settings, "alert-state", forgotten, now)
    finally:
        await es.close()


def _evaluate(key: str, deltas: list[Delta], now: datetime, partition: int) -> list[Alert]:
    """Fold one key's deltas into its state and return the alerts that changed."""
    state = alert_state.get(key)
    before = dict(alert_engine.active(state)) if state else {}
    late_before = AlertEngine.late_dropped(state) if state else 0
    merged = _per_bucket(deltas)
    if not merged:
        return []
    first = merged[0]
    state, alerts = alert_engine.update_many(
        state, first.dimension, first.key, [(d.bucket_ms, d.aggregate) for d in merged], now
    )
    alert_state[key] = state
    last = AlertEngine.last_event_ms(state)
    if last is not None:
        idle_alert_keys.seen(partition, key, last)
    metrics.ALERT_DELTAS_LATE.inc(AlertEngine.late_dropped(state) - late_before)
    after = dict(alert_engine.active(state))
    for rule in before.keys() - after.keys():
        del active_alerts[f"{rule}|{key}"]
    for rule in after.keys() - before.keys():
        active_alerts[f"{rule}|{key}"] = after[rule]
    return alerts


def _forget_state(key: str, partition: int) -> dict[str, int]:
    """Drop a key's windows and firing alerts (a forget request); what was removed."""
    state = alert_state.get(key)
    if state is None:
        return {"alert_state": 0, "active_alerts": 0}
    firing = [rule for rule, _ in alert_engine.active(state)]
    for rule in firing:
        del active_alerts[f"{rule}|{key}"]
    del alert_state[key]
    idle_alert_keys.forget(partition, key)
    return {"alert_state": 1, "active_alerts": len(firing)}


def _expire_idle(partition: int, now: datetime) -> list[Alert]:
    """Drop the state of this partition's keys that went silent; their no-data resolutions."""
    watermark = idle_alert_keys.watermark(partition)
    if watermark is None:
        return []
    alerts: list[Alert] = []
    for key in idle_alert_keys.due(partition):
        state = alert_state.get(key)
        dimension, name = _dimension_of(key), key.split(":", 1)[-1]
        try:
            resolved = alert_engine.expire(state, dimension, name, watermark, now)
        except Exception:  # one key's bug must not stop everyone's alerts
            log.exception("could not expire %s", key)
            continue
        if resolved is None:  # newer events than this worker knew of (after a rebalance)
            idle_alert_keys.seen(partition, key, AlertEngine.last_event_ms(state) or watermark)
            continue
        for rule, _ in alert_engine.active(state):
            del active_alerts[f"{rule}|{key}"]
        if state is not None:
            del alert_state[key]
        idle_alert_keys.forget(partition, key)
        metrics.TABLE_KEYS_EXPIRED.labels("alert-state").inc()
        alerts.extend(resolved)
    return alerts


def _drop_unanswered(partition: int) -> None:
    """Stop waiting for replies to this partition's inbound turns older than the limit."""
    watermark = unanswered_turns.watermark(partition)
    if watermark is None:
        return
    for key in unanswered_turns.due(partition):
        at_ms = _pending_at(conversations.get(key))
        if at_ms is not None and at_ms + _UNANSWERED_MS > watermark:
            unanswered_turns.seen(partition, key, at_ms)  # answered and asked again since
            continue
        if at_ms is not None:
            del conversations[key]
            metrics.TABLE_KEYS_EXPIRED.labels("conversations").inc()
        unanswered_turns.forget(partition, key)


def _state_at(state: Any) -> int | None:
    return AlertEngine.last_event_ms(state) if isinstance(state, dict) else None


def _pending_at(stored: Any) -> int | None:
    return int(stored["at_ms"]) if isinstance(stored, dict) and "at_ms" in stored else None


def _rebuild_if_needed(
    index: IdleKeys,
    topic: str,
    grouped: dict[str, tuple[Any, list[Any]]],
    table: Any,
    event_ms: Callable[[Any], int | None],
) -> None:
    """Load the keys of partitions new to this process from their table (once each).

    After a restart or a rebalance the index knows nothing of the keys stored before;
    one pass over the table (this worker's partitions only) tells it.
    """
    if not any(index.needs_rebuild(p) for p in last_event_per_partition(grouped)):
        return
    assigned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}
    fresh = {p for p in assigned | set(last_event_per_partition(grouped)) if index.needs_rebuild(p)}
    found: dict[int, list[tuple[str, int]]] = {p: [] for p in fresh}
    for key, value in table.items():
        at_ms = event_ms(value)
        partition = partition_for(str(key).encode(), settings.topic_partitions)
        if at_ms is not None and partition in found:
            found[partition].append((str(key), at_ms))
    for partition, keys in found.items():
        index.rebuilt(partition, keys)
    log.info("expiry index of %s: %d keys loaded", topic, sum(len(k) for k in found.values()))


def _per_bucket(deltas: list[Delta]) -> list[Delta]:
    """One delta per bucket, oldest first: fewer state updates, same result."""
    merged: dict[int, Delta] = {}
    for d in deltas:
        if d.bucket_ms in merged:
            merged[d.bucket_ms].aggregate.merge(d.aggregate)
        else:
            merged[d.bucket_ms] = Delta(d.dimension, d.key, d.bucket_ms, d.aggregate.copy())
    return [merged[b] for b in sorted(merged)]


@app.timer(interval=10.0)
async def count_active_alerts() -> None:
    """Set the active-alerts gauge from the table (only this worker's partitions)."""
    counts: dict[tuple[str, str], int] = {}
    try:
        for key, severity in active_alerts.items():
            rule = str(key).split("|", 1)[0]
            counts[rule, severity] = counts.get((rule, severity), 0) + 1
    except Exception:  # a gauge is not worth the worker: log, keep the last figures
        log.exception("could not count the active alerts")
        return
    metrics.ALERTS_ACTIVE.clear()
    for (rule, severity), count in counts.items():
        metrics.ALERTS_ACTIVE.labels(rule, severity).set(count)
