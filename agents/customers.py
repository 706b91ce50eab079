"""Customer profiles: ``crm.customer-contacts`` → profiles table → ``crm-customers``.

The scoring agents publish each communication and rating as a :class:`Contact`,
packed per partition and keyed by customer (:func:`contact_messages`), so all of a
customer's contacts meet on one partition, where :data:`customer_profiles` keeps
their profile (RocksDB, recovered from the changelog after a restart). Folding is
idempotent (:func:`streams.profiles.fold`): contacts read again after a crash, or
events sent twice, are not counted twice.

Each updated profile places its customer in a segment (:class:`Segmenter`) and is
indexed in ``crm-customers`` under the customer id. The scoring agent stamps each
scored record with its customer's segment from :data:`customer_segments`.

Customers silent for ``state.idle`` (``config/customers.yml``, event time) are
evicted: their profile and their document go. A forget request
(:mod:`streams.forget`) drops the profile at once and is audited in ``crm-audit``.

The arithmetic is in :mod:`streams.profiles`; this module moves data between Kafka,
the table and Elasticsearch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from streams import metrics
from streams.app import (
    allow_batch_table_writes,
    app,
    customer_contacts_topic,
    customer_profiles,
    settings,
)
from streams.expiry import IdleKeys
from streams.forget import Forget, after_last_forget, or_forget
from streams.grouping import group_by_key, in_turns, last_event_per_partition
from streams.internals import set_current_event
from streams.kafka import partition_for
from streams.offsets import delivered_batches
from streams.profiles import (
    Contact,
    ProfileConfig,
    Segmenter,
    contact_count,
    features,
    fold,
    summary,
)
from streams.search_index import (
    IndexRequest,
    bulk_index,
    create_async_client,
    customers_index,
    delete_documents,
)
from streams.sinks import Outgoing, packed, write_audit

log = logging.getLogger(__name__)

CONTACTS_TOPIC = customer_contacts_topic.get_topic_name()

profile_config = ProfileConfig.load(settings.customers_file)
segmenter = Segmenter(profile_config)
#: Each customer's segment, for the customers of this worker's partitions (read when
#: scoring: a dictionary look-up per record).
customer_segments: dict[str, str] = {}
idle_customers = IdleKeys(lambda key: profile_config.idle_ms)


@app.on_partitions_revoked.connect
async def _forget_revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
    """Partitions given up are rebuilt from the table if they come back."""
    revoked = args[0] if args else kwargs.get("revoked", ())
    gone = {tp.partition for tp in revoked if tp.topic == CONTACTS_TOPIC}
    idle_customers.drop_partitions(gone)
    for customer in [c for c in customer_segments if _partition(c) in gone]:
        del customer_segments[customer]


def _partition(customer_id: str) -> int:
    return partition_for(customer_id.encode(), settings.topic_partitions)


def contact_messages(contacts: Iterable[tuple[bytes, bytes]]) -> list[Outgoing]:
    """Keyed contacts (:meth:`Contact.keyed`, :func:`communication_contact`) as Kafka
    records, packed per partition of their customer."""
    return packed(contacts, settings.topic_partitions)


@app.agent(customer_contacts_topic)
async def track_customers(stream: Any) -> None:
    allow_batch_table_writes()
    es = create_async_client(settings)
    index = customers_index(settings)
    try:
        # Batches a few seconds apart (config/customers.yml, state.update_every): each
        # customer in one is written and indexed once. Their offsets are committed only
        # once the batch is delivered (streams.offsets), so a crash loses nothing.
        async for events in delivered_batches(
            stream, settings.batch_max_events, profile_config.update_every_s
        ):
            grouped = group_by_key(events, or_forget(Contact.from_dict), _customer_of)
            load_assigned(last_event_per_partition(grouped))
            documents: list[IndexRequest] = []
            evicted: list[str] = []
            forgotten: list[tuple[Forget, str, dict[str, int]]] = []
            async for key, (event, items) in in_turns(grouped.items()):
                set_current_event(stream, event)  # see streams.grouping
                forget, contacts = after_last_forget(items)
                if forget is not None:
                    removed = _forget(key, event.message.partition)
                    forgotten.append((forget, key, removed))
                    if not contacts:
                        evicted.append(key)  # its document goes too
                if not contacts:
                    continue
                try:
                    document = _update(key, contacts, event.message.partition)
                except Exception:  # one customer's bug must not stop everyone's profiles
                    log.exception("profile update failed for %s", key)
                    continue
                if document is not None:
                    documents.append(IndexRequest(index, key, document))
            for partition, event in last_event_per_partition(grouped).items():
                set_current_event(stream, event)
                evicted.extend(_evict_idle(partition))
                documents.extend(IndexRequest(index, *placed) for placed in _place(partition))
            metrics.TABLE_KEYS.labels("customer-profiles").set(idle_customers.size())
            for rejection in await bulk_index(es, documents):
                log.error("profile %s not indexed: %s", rejection.request.id, rejection.reason)
            if evicted:
                await delete_documents(es, index, evicted)
            if forgotten:
                await write_audit(es, settings, "profile", forgotten, datetime.now(UTC))
    finally:
        await es.close()


def _update(key: str, contacts: list[Contact], partition: int) -> dict[str, Any] | None:
    """Fold one customer's contacts into their profile; the document to index, if changed."""
    profile, applied = fold(customer_profiles.get(key), contacts, profile_config)
    if not applied:
        return None
    description = None
    if contact_count(profile) >= profile_config.min_contacts:
        point = features(profile, profile_config)
        profile["segment"] = segmenter.update(key, profile["segment"], point)
    if profile["segment"] is not None:
        customer_segments[key] = profile["segment"]
        description = segmenter.describe(profile["segment"])
    customer_profiles[key] = profile
    idle_customers.seen(partition, key, int(profile["last_ms"]))
    return summary(profile, profile_config, description)


def _place(partition: int) -> list[tuple[str, dict[str, Any]]]:
    """Give this partition's warm-up customers their segment once the centres exist
    (:attr:`Segmenter.unplaced`); their ``(customer, document)`` to index."""
    placed = []
    for key in [c for c in segmenter.unplaced if _partition(c) == partition]:
        segment = segmenter.place(key)
        profile = customer_profiles.get(key)
        if profile is None or profile.get("segment") is not None:
            continue
        profile["segment"] = customer_segments[key] = segment
        customer_profiles[key] = profile
        placed.append((key, summary(profile, profile_config, segmenter.describe(segment))))
    return placed


def _customer_of(item: Contact | Forget) -> str:
    return item.key if isinstance(item, Forget) else item.customer_id


def _forget(key: str, partition: int) -> dict[str, int]:
    """Drop a customer's profile (a forget request); what was removed."""
    stored = customer_profiles.get(key)
    if stored is not None:
        del customer_profiles[key]
    customer_segments.pop(key, None)
    segmenter.drop(key)
    idle_customers.forget(partition, key)
    return {"profiles": int(stored is not None)}


def _evict_idle(partition: int) -> list[str]:
    """Drop the profiles of this partition's customers silent for longer than the idle time."""
    watermark = idle_customers.watermark(partition)
    if watermark is None:
        return []
    evicted = []
    for key in idle_customers.due(partition):
        stored = customer_profiles.get(key)
        last = _last_ms(stored)
        if last is not None and last + profile_config.idle_ms > watermark:
            idle_customers.seen(partition, key, last)  # newer than this worker knew
            continue
        if stored is not None:
            del customer_profiles[key]
            metrics.TABLE_KEYS_EXPIRED.labels("customer-profiles").inc()
            evicted.append(key)
        customer_segments.pop(key, None)
        segmenter.drop(key)
        idle_customers.forget(partition, key)
    return evicted


def _last_ms(stored: Any) -> int | None:
    if isinstance(stored, dict) and stored.get("last_ms") is not None:
        return int(stored["last_ms"])
    return None


def load_assigned(also: Iterable[int] = ()) -> None:
    """Load what this process needs to know of its partitions from the table, once each
    (after a start or a rebalance): the idle index, the customers' segments, and (at the
    first load) the segment centres.

    The scoring agent calls it before each batch (a set look-up when nothing is new), so
    that records are stamped with their customer's segment from the first batch on,
    not only once the first contacts reached this process.
    """
    assigned = {
        tp.partition for tp in app.assignor.assigned_actives() if tp.topic == CONTACTS_TOPIC
    }
    fresh = {p for p in assigned.union(also) if idle_customers.needs_rebuild(p)}
    if not fresh:
        return
    found: dict[int, list[tuple[str, int]]] = {p: [] for p in fresh}
    members: list[tuple[str, str | None, dict[str, float]]] = []
    for key, value in customer_profiles.items():
        customer, at_ms = str(key), _last_ms(value)
        partition = _partition(customer)
        if at_ms is None or partition not in found:
            continue
        found[partition].append((customer, at_ms))
        if value.get("segment") is not None:
            customer_segments[customer] = value["segment"]
        if contact_count(value) >= profile_config.min_contacts:
            members.append((customer, value.get("segment"), features(value, profile_config)))
    for partition, keys in found.items():
        idle_customers.rebuilt(partition, keys)
    if not segmenter.ready and members:
        segmenter.restore(members)
    log.info("customer profiles: %d keys loaded", sum(len(k) for k in found.values()))
