"""Elasticsearch: clients, the index templates, and idempotent bulk indexing.

Communications go to monthly indices named from the event's own time
(``crm-communications-2026.01``), all behind the alias ``crm-communications``.
Because the index is derived from the event and the document id is the
``event_id``, a replayed or duplicated event always overwrites its own document:
never a second copy, whenever it arrives.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, AsyncElasticsearch, Elasticsearch
from elasticsearch.helpers import async_streaming_bulk
from elasticsearch.serializer import OrjsonSerializer
from tenacity import AsyncRetrying, before_sleep_log, retry_if_exception, wait_exponential_jitter

from config.settings import Settings
from streams import metrics

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "config" / "elasticsearch"
COMMUNICATIONS_ALIAS = "crm-communications"
ALERTS_ALIAS = "crm-alerts"
DEADLETTER_ALIAS = "crm-deadletter"
FEEDBACK_ALIAS = "crm-feedback"
CUSTOMERS_ALIAS = "crm-customers"
AUDIT_ALIAS = "crm-audit"
TEMPLATE_FILES = {
    COMMUNICATIONS_ALIAS: "communications.json",
    ALERTS_ALIAS: "alerts.json",
    DEADLETTER_ALIAS: "deadletter.json",
    FEEDBACK_ALIAS: "feedback.json",
    CUSTOMERS_ALIAS: "customers.json",
    AUDIT_ALIAS: "audit.json",
}

# Item statuses worth another try: too many requests and server-side trouble.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def _client_options(settings: Settings) -> dict[str, Any]:
    # orjson for requests and responses: the standard library's json was about 3 % of the
    # worker's CPU (every bulk request and its response); our documents are plain JSON.
    options: dict[str, Any] = {
        "request_timeout": settings.elasticsearch_request_timeout_s,
        "serializer": OrjsonSerializer(),
    }
    if settings.elasticsearch_api_key is not None:
        options["api_key"] = settings.elasticsearch_api_key.get_secret_value()
    elif settings.elasticsearch_username and settings.elasticsearch_password is not None:
        options["basic_auth"] = (
            settings.elasticsearch_username,
            settings.elasticsearch_password.get_secret_value(),
        )
    if settings.elasticsearch_ca_certs is not None:
        options["ca_certs"] = str(settings.elasticsearch_ca_certs)
    return options


def create_client(
    settings: Settings, *, request_timeout: float | None = None, retries: int = 3
) -> Elasticsearch:
    """A synchronous client (for the CLI, infra checks and tests)."""
    options = _client_options(settings)
    if request_timeout is not None:
        options["request_timeout"] = request_timeout
    return Elasticsearch(settings.elasticsearch_url, max_retries=retries, **options)


def create_async_client(settings: Settings) -> AsyncElasticsearch:
    """The worker's client. Retries are ours (see :func:`bulk_index`), not the transport's."""
    return AsyncElasticsearch(
        settings.elasticsearch_url,
        max_retries=0,
        retry_on_timeout=False,
        **_client_options(settings),
    )


def communications_index(settings: Settings, occurred_at: datetime) -> str:
    """The monthly index an event belongs to, derived from its own time (idempotent).

    The month is the event's own (in its time zone), as ``strftime('%Y.%m')`` gives it,
    without the cost of formatting a zoned datetime once per document.

    >>> from datetime import timezone, timedelta
    >>> at = datetime(2026, 1, 31, 23, 30, tzinfo=timezone(timedelta(hours=-8)))
    >>> communications_index(Settings(namespace="ns"), at)
    'ns-crm-communications-2026.01'
    """
    month = f"{occurred_at.year:04d}.{occurred_at.month:02d}"
    return f"{settings.index_name(COMMUNICATIONS_ALIAS)}-{month}"


def feedback_index(settings: Settings, occurred_at: datetime) -> str:
    """Ratings by the month they were given (event time, like communications).

    >>> feedback_index(Settings(namespace="ns"), datetime(2026, 3, 1))
    'ns-crm-feedback-2026.03'
    """
    return f"{settings.index_name(FEEDBACK_ALIAS)}-{occurred_at.year:04d}.{occurred_at.month:02d}"


def alerts_index(settings: Settings, window_start: datetime) -> str:
    """Alerts by the month of the window they describe (event time: replays overwrite)."""
    return f"{settings.index_name(ALERTS_ALIAS)}-{window_start:%Y.%m}"


def index_template(settings: Settings, alias: str) -> dict[str, Any]:
    """An index template from ``config/elasticsearch``, with this namespace's pattern and alias."""
    body: dict[str, Any] = json.loads((TEMPLATES_DIR / TEMPLATE_FILES[alias]).read_text())
    body.pop("_comment", None)
    name = settings.index_name(alias)
    body["index_patterns"] = [f"{name}-*"]
    body["template"]["aliases"] = {name: {}}
    return body


def communications_template(settings: Settings) -> dict[str, Any]:
    """The communications index template (see :func:`index_template`)."""
    return index_template(settings, COMMUNICATIONS_ALIAS)


def install_templates(client: Elasticsearch, settings: Settings) -> None:
    """Install (or update) crmstream's index templates; safe to repeat."""
    for alias in TEMPLATE_FILES:
        client.indices.put_index_template(
            name=settings.index_name(alias), **index_template(settings, alias)
        )


def delete_namespace_indices(client: Elasticsearch, settings: Settings) -> None:
    """Delete every index and index template of ``settings``' namespace (a scratch one:
    a bench run, an evaluation, a test). Refuses the empty namespace, which is production's.

    >>> delete_namespace_indices(None, Settings())  # type: ignore[arg-type]
    Traceback (most recent call last):
    ...
    ValueError: refusing to delete the indices of the empty namespace
    """
    if not settings.namespace:
        raise ValueError("refusing to delete the indices of the empty namespace")
    # The cluster refuses wildcard deletes (action.destructive_requires_name): name them.
    pattern = f"{settings.namespace}-*"
    names = list(client.indices.get(index=pattern, expand_wildcards="all"))
    if names:
        client.indices.delete(index=",".join(names))
    # 404 when no template matches the pattern.
    found = client.options(ignore_status=404).indices.get_index_template(name=pattern)
    for template in found.body.get("index_templates", []):
        client.indices.delete_index_template(name=template["name"])


def deadletter_index(settings: Settings) -> str:
    """Dead letters are few: one index behind the alias (ids are source positions)."""
    return f"{settings.index_name(DEADLETTER_ALIAS)}-v1"


def customers_index(settings: Settings) -> str:
    """One document per customer (the id is the customer id), in one index behind the alias.

    >>> customers_index(Settings(namespace="ns"))
    'ns-crm-customers-v1'
    """
    return f"{settings.index_name(CUSTOMERS_ALIAS)}-v1"


def audit_index(settings: Settings) -> str:
    """What ``crmstream forget`` removed, one document per request and component."""
    return f"{settings.index_name(AUDIT_ALIAS)}-v1"


@dataclass(frozen=True, slots=True)
class IndexRequest:
    """One document to index: where, under which id, what."""

    index: str
    id: str
    document: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rejection:
    """A document Elasticsearch refused for its content (it will never succeed as is)."""

    request: IndexRequest
    status: int
    reason: str


class _RetryableItems(Exception):
    """Some items failed for reasons that may pass (429, 5xx); try them again."""


def is_transient(error: BaseException) -> bool:
    """Whether a failed bulk call may succeed if simply tried again later."""
    if isinstance(error, TransportConnectionError | ConnectionTimeout | _RetryableItems):
        return True
    return isinstance(error, ApiError) and error.meta.status in RETRYABLE_STATUSES


#: The parts of a bulk response :func:`bulk_index` reads.
BULK_RESPONSE_FIELDS = "errors,items.*._index,items.*._id,items.*.status,items.*.error"


def _item_reason(item: dict[str, Any]) -> tuple[int, str]:
    result = item.get("index", item)
    error = result.get("error") or {}
    if isinstance(error, dict):
        text = f"{error.get('type', 'error')}: {error.get('reason', '')}"
        caused = error.get("caused_by")
        if isinstance(caused, dict):
            text += f" (caused by {caused.get('type')}: {caused.get('reason')})"
    else:
        text = str(error)
    return int(result.get("status", 0)), text


@contextlib.contextmanager
def _timed_attempt() -> Iterator[None]:
    """Observe one bulk attempt's duration; count it as a retry when it fails transiently."""
    started = time.perf_counter()
    try:
        yield
    except Exception as error:
        if is_transient(error):
            metrics.ELASTICSEARCH_BULK_ERRORS.labels("retry").inc()
        raise
    finally:
        metrics.ELASTICSEARCH_BULK_SECONDS.observe(time.perf_counter() - started)


def _until_done() -> AsyncRetrying:
    """Transient failures (connection, timeout, 429, 5xx) retried with backoff, endlessly."""
    return AsyncRetrying(
        retry=retry_if_exception(is_transient),
        wait=wait_exponential_jitter(initial=0.5, max=30),
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=True,
    )


async def bulk_index(
    client: AsyncElasticsearch, requests: Sequence[IndexRequest], *, chunk_size: int = 500
) -> list[Rejection]:
    """Index every request, retrying transient failures until Elasticsearch acknowledged them.

    Returns the requests Elasticsearch rejected for their content. Connection
    errors, timeouts, 429 and 5xx are retried with backoff for as long as it
    takes (the caller's batch stays unacknowledged meanwhile: backpressure).
    """
    pending = {(r.index, r.id): r for r in requests}
    rejected: list[Rejection] = []
    async for attempt in _until_done():
        with attempt, _timed_attempt():
            retry_later: dict[tuple[str, str], IndexRequest] = {}
            actions = (
                {"_op_type": "index", "_index": r.index, "_id": r.id, "_source": r.document}
                for r in pending.values()
            )
            async for ok, item in async_streaming_bulk(
                client,
                actions,
                chunk_size=chunk_size,
                raise_on_error=False,
                raise_on_exception=True,
                max_retries=0,
                # Only what is read back: a full bulk response echoes shards, versions
                # and sequence numbers for every document.
                filter_path=BULK_RESPONSE_FIELDS,
            ):
                if ok:
                    continue
                result = item.get("index", item)
                doc_id = (str(result.get("_index")), str(result.get("_id")))
                status, reason = _item_reason(item)
                if status in RETRYABLE_STATUSES:
                    retry_later[doc_id] = pending[doc_id]
                else:
                    rejected.append(Rejection(pending[doc_id], status, reason))
                    metrics.ELASTICSEARCH_BULK_ERRORS.labels("rejected").inc()
            pending = retry_later
            if pending:
                raise _RetryableItems(f"{len(pending)} documents to retry")
    return rejected


async def delete_documents(client: AsyncElasticsearch, index: str, ids: Sequence[str]) -> int:
    """Delete documents by id (absent ones are no error); returns how many were there."""
    deleted = 0
    async for attempt in _until_done():
        with attempt, _timed_attempt():
            deleted = 0
            actions = ({"_op_type": "delete", "_index": index, "_id": i} for i in ids)
            async for ok, item in async_streaming_bulk(
                client, actions, raise_on_error=False, raise_on_exception=True, max_retries=0
            ):
                status = int(item.get("delete", item).get("status", 0))
                if ok:
                    deleted += 1
                elif status in RETRYABLE_STATUSES:
                    raise _RetryableItems(f"delete of {index} answered {status}")
                elif status != 404:
                    log.error("could not delete from %s: %s", index, _item_reason(item)[1])
    return deleted


def count_communications(settings: Settings, event_ids: Sequence[str] | None = None) -> int:
    """Communications behind the alias after a refresh: all of them, or those of these ids."""
    client = create_client(settings)
    alias = settings.index_name(COMMUNICATIONS_ALIAS)
    try:
        if not client.indices.exists_alias(name=alias):
            return 0
        client.indices.refresh(index=alias)
        if event_ids is None:
            return int(client.count(index=alias)["count"])
        found = 0
        for start in range(0, len(event_ids), 10_000):
            chunk = list(event_ids[start : start + 10_000])
            found += int(client.count(index=alias, query={"terms": {"event_id": chunk}})["count"])
        return found
    finally:
        client.close()
