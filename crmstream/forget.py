"""``crmstream forget CUSTOMER_ID``: remove a customer from the indices and the stream's state.

What it removes, and who does it:

- the customer's documents in ``crm-communications``, ``crm-alerts`` (customer
  alerts), ``crm-deadletter`` (messages keyed by the customer) and ``crm-customers``:
  this command, by query;
- the profile (``customer-profiles`` table), the customer's alert windows and firing
  alerts (``alert-state``, ``active-alerts``) and the pending turns of their
  conversations (``conversations``): the agents owning those keys, on a forget record
  this command publishes keyed like the state (:mod:`streams.forget`);
- their communications in the learner's join memory: the learner, on a ``forget``
  training message (what the models already learned stays in their weights).

Each part writes an audit document in ``crm-audit`` (id ``<request>:<component>``;
the learner's is a ``forgotten`` event on ``crm.model-events``). Not removed: the raw
messages on the Kafka topics, which age out with the topics' retention (7 days for
the inputs), and messages of the customer still on their way through the stream,
which start a new profile (forget again once they are processed).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch
from elasticsearch.helpers import bulk, scan

from config.settings import Settings
from crmstream.produce import produce
from streams.forget import audit_document, forget_record, training_forget
from streams.search_index import (
    ALERTS_ALIAS,
    COMMUNICATIONS_ALIAS,
    CUSTOMERS_ALIAS,
    DEADLETTER_ALIAS,
    audit_index,
    create_client,
)
from streams.topics import ALERT_AGGREGATES, CONVERSATION_TURNS, CUSTOMER_CONTACTS, TRAINING


@dataclass
class ForgetReport:
    """What was removed from the indices, and what the stream was asked to remove."""

    request_id: str
    customer_id: str
    removed: dict[str, int] = field(default_factory=dict)
    requested: dict[str, int] = field(default_factory=dict)


def forget_customer(settings: Settings, customer_id: str) -> ForgetReport:
    """Remove a customer (see the module); returns the report also written to ``crm-audit``."""
    report = ForgetReport(uuid.uuid4().hex, customer_id)
    client = create_client(settings)
    try:
        event_ids, conversation_ids = _communications_of(client, settings, customer_id)
        # The stream's state first: the index deletions below cannot be undone by it.
        messages = _stream_requests(settings, report.request_id, customer_id, conversation_ids)
        messages.append(
            (
                settings.topic_name(TRAINING),
                None,
                training_forget(report.request_id, event_ids, conversation_ids),
            )
        )
        asyncio.run(produce(settings, messages))
        report.requested = {
            "profile": 1,
            "alert_state": 1,
            "conversations": len(conversation_ids),
            "learner_examples": len(event_ids),
        }
        report.removed = {
            "communications": _delete(
                client, settings, COMMUNICATIONS_ALIAS, {"term": {"customer_id": customer_id}}
            ),
            "alerts": _delete(
                client,
                settings,
                ALERTS_ALIAS,
                {
                    "bool": {
                        "filter": [
                            {"term": {"dimension": "customer"}},
                            {"term": {"key": customer_id}},
                        ]
                    }
                },
            ),
            "dead_letters": _delete(
                client, settings, DEADLETTER_ALIAS, {"term": {"key": customer_id}}
            ),
            "customer_documents": _delete(
                client, settings, CUSTOMERS_ALIAS, {"ids": {"values": [customer_id]}}
            ),
        }
        doc_id, body = audit_document(
            report.request_id,
            customer_id,
            "command",
            report.removed,
            datetime.now(UTC),
            detail="asked of the stream: "
            + ", ".join(f"{k} {v}" for k, v in report.requested.items()),
        )
        client.index(index=audit_index(settings), id=doc_id, document=body, refresh=True)
    finally:
        client.close()
    return report


def _stream_requests(
    settings: Settings, request_id: str, customer_id: str, conversation_ids: list[str]
) -> list[tuple[str, bytes | None, bytes | None]]:
    """The forget records, keyed like the state they erase (so each reaches its owner)."""
    alert_key = f"customer:{customer_id}"
    requests = [
        (CUSTOMER_CONTACTS, customer_id),
        (ALERT_AGGREGATES, alert_key),
        *((CONVERSATION_TURNS, c) for c in conversation_ids),
    ]
    return [
        (settings.topic_name(topic), key.encode(), forget_record(request_id, key, customer_id))
        for topic, key in requests
    ]


def _communications_of(
    client: Elasticsearch, settings: Settings, customer_id: str
) -> tuple[list[str], list[str]]:
    """The customer's indexed communications: event ids and conversation ids."""
    alias = settings.index_name(COMMUNICATIONS_ALIAS)
    if not client.indices.exists_alias(name=alias):
        return [], []
    client.indices.refresh(index=alias)
    events: list[str] = []
    conversations: set[str] = set()
    hits = scan(
        client,
        index=alias,
        query={"query": {"term": {"customer_id": customer_id}}},
        _source=["event_id", "conversation_id"],
    )
    for hit in hits:
        source: dict[str, Any] = hit["_source"]
        events.append(str(source["event_id"]))
        if source.get("conversation_id"):
            conversations.add(str(source["conversation_id"]))
    return events, sorted(conversations)


def _delete(client: Elasticsearch, settings: Settings, alias: str, query: dict[str, Any]) -> int:
    """Delete what ``query`` finds behind the alias (none when it does not exist).

    Found, then deleted by id: the local Elasticsearch distribution has no
    ``_delete_by_query`` (it lives in the reindex module).
    """
    name = settings.index_name(alias)
    if not client.indices.exists_alias(name=name):
        return 0
    client.indices.refresh(index=name)
    found = scan(client, index=name, query={"query": query}, _source=False)
    actions = ({"_op_type": "delete", "_index": h["_index"], "_id": h["_id"]} for h in found)
    deleted, _ = bulk(client, actions, refresh=True, raise_on_error=True)
    return int(deleted)
