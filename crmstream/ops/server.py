"""``crmstream ops``: the live ops page, an aiohttp server on loopback.

Routes:

- ``/`` the page; ``/static/…`` its script and style, and ``/static/plotly.min.js``
  served from the installed ``plotly`` package (nothing from a CDN: the page
  works offline);
- ``/api/snapshot`` everything the page shows, as JSON;
- ``/api/stream`` the same snapshot as server-sent events, every
  ``CRMSTREAM_OPS_REFRESH_S`` seconds (the page updates without a reload);
- ``/communications?field=…&value=…&from=…&to=…`` the communications behind an alert;
- ``/healthz``.

All data comes from Elasticsearch, Prometheus and, for the emerging needs, the newest
messages of ``crm.model-events`` (never from a worker's memory),
so the page shows the same with any number of workers. One snapshot is computed
at a time and shared by every open page.
"""

from __future__ import annotations

import asyncio
import html
import importlib.resources
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from elasticsearch import AsyncElasticsearch, Elasticsearch

from config.settings import Settings
from crmstream.ops import data
from crmstream.similar import CommunicationNotFound, SimilarResult, find_similar
from streams.kafka import client_options
from streams.search_index import (
    ALERTS_ALIAS,
    COMMUNICATIONS_ALIAS,
    DEADLETTER_ALIAS,
    FEEDBACK_ALIAS,
    create_async_client,
    create_client,
)
from streams.topics import MODEL_EVENTS

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_FILES = {"ops.js": "text/javascript", "ops.css": "text/css"}
COMMUNICATIONS_SHOWN = 200

Fetch = Callable[[], Awaitable[Any]]


def plotly_js() -> bytes:
    """plotly.js as the ``plotly`` Python package ships it."""
    return (importlib.resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()


class Snapshots:
    """Builds the page's snapshot from Elasticsearch and Prometheus, at most once per
    ``max_age_s`` however many pages are open; a source that fails is reported on the
    page (``errors``) and the rest is still shown."""

    def __init__(self, settings: Settings, es: AsyncElasticsearch, http: aiohttp.ClientSession):
        self.settings = settings
        self.es = es
        self.http = http
        self.max_age_s = settings.ops_refresh_s
        self._lock = asyncio.Lock()
        self._cached: tuple[float, dict[str, Any]] | None = None

    async def get(self) -> dict[str, Any]:
        async with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] >= self.max_age_s:
                self._cached = (time.monotonic(), await self.build())
            return self._cached[1]

    async def build(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        errors: list[str] = []

        async def guarded(name: str, fetch: Fetch) -> Any:
            try:
                return await fetch()
            except Exception as error:  # one source down must not blank the page
                log.warning("ops page: %s unavailable: %s", name, error)
                errors.append(f"{name}: {type(error).__name__}: {error}")
                return None

        alerts, charts, dead, models, emerging = await asyncio.gather(
            guarded("alerts (Elasticsearch)", lambda: self.alerts(now)),
            guarded("communications (Elasticsearch)", self.charts),
            guarded("dead letters (Elasticsearch)", lambda: self.dead_letters(now)),
            guarded("model health (Prometheus)", lambda: self.models(now)),
            guarded("emerging needs (Kafka)", self.emerging),
        )
        return {
            "generated_at": now.isoformat(),
            "namespace": self.settings.namespace,
            "resolved_hours": self.settings.ops_resolved_hours,
            "alerts": alerts,
            "charts": charts,
            "dead_letters": dead,
            "models": models,
            "emerging": emerging,
            "errors": errors,
        }

    def _alias(self, base: str) -> str:
        return self.settings.index_name(base)

    async def _search(self, base: str, body: dict[str, Any]) -> Any:
        # A namespace without the index yet (no worker ever ran) is empty, not an error.
        response = await self.es.options(ignore_status=404).search(
            index=self._alias(base), ignore_unavailable=True, allow_no_indices=True, **body
        )
        return response.body

    async def alerts(self, now: datetime) -> dict[str, Any]:
        firing = await self._search(ALERTS_ALIAS, data.firing_alerts_query())
        records = [hit["_source"] for hit in firing.get("hits", {}).get("hits", [])]
        ids = [r["alert_id"] for r in records]
        endings: list[dict[str, Any]] = []
        if ids:
            resolved = await self._search(ALERTS_ALIAS, data.resolutions_query(ids))
            endings = [hit["_source"] for hit in resolved["hits"]["hits"]]
        since = now - timedelta(hours=self.settings.ops_resolved_hours)
        active, done = data.pair_alerts(records, endings, resolved_since=since)
        return {"firing": [a.as_json() for a in active], "resolved": [a.as_json() for a in done]}

    async def charts(self) -> dict[str, Any] | None:
        extent = await self._search(COMMUNICATIONS_ALIAS, data.extent_query())
        found = extent.get("aggregations", {})
        if found.get("newest", {}).get("value_as_string") is None:
            return None
        oldest, newest = (
            datetime.fromisoformat(found[k]["value_as_string"]) for k in ("oldest", "newest")
        )
        start, end, interval = data.chart_range(oldest, newest)
        response = await self._search(COMMUNICATIONS_ALIAS, data.charts_query(start, end, interval))
        return {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "interval_s": interval.total_seconds(),
            **data.shape_charts(response["aggregations"]),
        }

    async def dead_letters(self, now: datetime) -> list[dict[str, Any]]:
        response = await self._search(
            DEADLETTER_ALIAS, data.dead_letters_query(now - timedelta(hours=24))
        )
        if "aggregations" not in response:
            return []
        return data.shape_dead_letters(response["aggregations"])

    async def models(self, now: datetime) -> dict[str, Any]:
        names = list(data.MODEL_INSTANT_QUERIES)
        vectors = await asyncio.gather(
            *(self._prometheus("query", {"query": data.MODEL_INSTANT_QUERIES[n]}) for n in names)
        )
        accuracy = await self._prometheus("query_range", data.accuracy_range_params(now))
        models = data.shape_models(dict(zip(names, vectors, strict=True)), accuracy)
        models["accuracy_range"] = [(now - data.ACCURACY_RANGE).isoformat(), now.isoformat()]
        return models

    async def emerging(self) -> list[dict[str, Any]]:
        """The emerging needs of the newest :data:`data.EMERGING_READ` model events."""
        return data.shape_emerging(
            await newest_messages(self.settings, MODEL_EVENTS, data.EMERGING_READ)
        )

    async def _prometheus(self, endpoint: str, params: dict[str, str]) -> Any:
        url = f"{self.settings.prometheus_url.rstrip('/')}/api/v1/{endpoint}"
        timeout = aiohttp.ClientTimeout(total=10)
        async with self.http.get(url, params=params, timeout=timeout) as response:
            response.raise_for_status()
            body = await response.json()
        return body["data"]["result"]


async def newest_messages(settings: Settings, base: str, count: int) -> list[bytes]:
    """The values of the newest ``count`` messages of each partition of a topic, oldest
    first (read without a consumer group: nothing is committed)."""
    topic = settings.topic_name(base)
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            return []
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        for partition in partitions:
            consumer.seek(partition, max(starts[partition], ends[partition] - count))
        values: list[bytes] = []
        remaining = {p for p in partitions if ends[p] > starts[p]}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=2000)
            if not batches:
                break  # the end offsets were not reached in time: show what was read
            for partition, records in batches.items():
                values += [r.value for r in records if r.value is not None]
                if records and records[-1].offset + 1 >= ends[partition]:
                    remaining.discard(partition)
        return values
    finally:
        await stopped(consumer)


async def stopped(consumer: AIOKafkaConsumer) -> None:
    """Stop a consumer without a group, even right after its start.

    aiokafka 0.14 cancels the group-less consumer's committed-offset task on stop and
    awaits it; cancelled before its first step (an empty or missing topic is read
    in no time), the task re-raises the CancelledError, which would abort the page's
    whole snapshot. It is re-raised only when this task itself is being cancelled.
    """
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise


def _json(body: Any) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")


SNAPSHOTS = web.AppKey("snapshots", Snapshots)
SETTINGS = web.AppKey("settings", Settings)
ES = web.AppKey("es", AsyncElasticsearch)
SYNC_ES = web.AppKey("sync_es", Elasticsearch)  # for crmstream.similar, in a thread


async def index(request: web.Request) -> web.Response:
    return web.Response(
        text=(STATIC_DIR / "index.html").read_text(), content_type="text/html", charset="utf-8"
    )


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name == "plotly.min.js":
        return web.Response(body=plotly_js(), content_type="text/javascript", charset="utf-8")
    if name not in STATIC_FILES:
        raise web.HTTPNotFound()
    return web.Response(
        body=(STATIC_DIR / name).read_bytes(), content_type=STATIC_FILES[name], charset="utf-8"
    )


async def snapshot(request: web.Request) -> web.Response:
    return _json(await request.app[SNAPSHOTS].get())


async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: one ``snapshot`` event per refresh, until the page goes away."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    snapshots = request.app[SNAPSHOTS]
    refresh = request.app[SETTINGS].ops_refresh_s
    try:
        while True:
            body = orjson.dumps(await snapshots.get())
            await response.write(b"event: snapshot\ndata: " + body + b"\n\n")
            await asyncio.sleep(refresh)
    except ConnectionResetError:  # the page went away
        pass
    return response


async def communications(request: web.Request) -> web.Response:
    """The communications behind an alert, as a plain page (with the search for Kibana)."""
    query = request.rel_url.query
    try:
        field, value, start, end = (query[k] for k in ("field", "value", "from", "to"))
        body = data.communications_query(field, value, start, end, COMMUNICATIONS_SHOWN)
    except (KeyError, ValueError) as error:
        raise web.HTTPBadRequest(text=f"bad search: {error}") from None
    settings = request.app[SETTINGS]
    response = await request.app[ES].search(index=settings.index_name(COMMUNICATIONS_ALIAS), **body)
    hits = [hit["_source"] for hit in response["hits"]["hits"]]
    total = response["hits"]["total"]["value"]
    return web.Response(
        text=communications_page(field, value, start, end, hits, total),
        content_type="text/html",
        charset="utf-8",
    )


def communications_page(
    field: str, value: str, start: str, end: str, hits: list[dict[str, Any]], total: int
) -> str:
    """The HTML of :func:`communications` (every value escaped)."""
    e = html.escape
    columns = ("occurred_at", "channel", "agent_id", "customer_id", "need", "satisfaction", "text")
    rows = "".join(
        "<tr>"
        + "".join(f"<td>{e(str(hit.get(c, '')))}</td>" for c in columns)
        + f'<td><a href="/similar?{urlencode({"event_id": hit.get("event_id", "")})}">'
        "similar</a></td></tr>"
        for hit in hits
    )
    header = "".join(f"<th>{e(c)}</th>" for c in (*columns, ""))
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(value)}: communications</title>"
        '<link rel="stylesheet" href="/static/ops.css"></head><body>'
        f"<h1>Communications with {e(field)} = {e(value)}</h1>"
        f"<p>{e(start)} to {e(end)} (event time): {total} found"
        f"{f', the first {len(hits)} shown' if total > len(hits) else ''}.</p>"
        f'<p>In Kibana (data view crm-communications): <code id="kql">'
        f"{e(data.kql(field, value, start, end))}</code></p>"
        f'<table class="grid" id="communications"><thead><tr>{header}</tr></thead>'
        f"<tbody>{rows}</tbody></table>"
        '<p><a href="/">back to the ops page</a></p></body></html>'
    )


async def similar(request: web.Request) -> web.Response:
    """Earlier communications like one, and a suggested reply (``crmstream similar``)."""
    event_id = request.rel_url.query.get("event_id", "")
    if not event_id:
        raise web.HTTPBadRequest(text="event_id is required")
    settings = request.app[SETTINGS]
    try:  # on demand, off the page's event loop (crmstream.similar's client is synchronous)
        result = await asyncio.to_thread(
            find_similar,
            request.app[SYNC_ES],
            settings.index_name(COMMUNICATIONS_ALIAS),
            settings.index_name(FEEDBACK_ALIAS),
            event_id,
        )
    except CommunicationNotFound as error:
        raise web.HTTPNotFound(text=str(error)) from None
    return web.Response(text=similar_page(result), content_type="text/html", charset="utf-8")


def similar_page(result: SimilarResult) -> str:
    """The HTML of :func:`similar` (every value escaped).

    >>> from crmstream.similar import Communication
    >>> asked = Communication("e1", "i", "2026-01-05T10:00:00Z", "<b>refund</b>?")
    >>> "&lt;b&gt;refund&lt;/b&gt;?" in similar_page(SimilarResult(asked))
    True
    """
    e = html.escape
    asked = result.communication
    rows = "".join(
        f"<tr><td>{e(c.occurred_at)}</td><td>{e(c.need or '')}</td>"
        f"<td>{'' if c.satisfaction is None else f'{c.satisfaction:.2f}'}</td>"
        f"<td>{'' if c.score is None else f'{c.score:.2f}'}</td><td>{e(c.text)}</td></tr>"
        for c in result.similar
    )
    reply = result.reply
    if reply is None:
        suggestion = (
            "<p>No suggested reply: no similar conversation that ended well was answered.</p>"
        )
    else:
        why = (
            f"rated {reply.rating:.2f}"
            if reply.rating is not None
            else f"last predicted satisfaction {reply.predicted_satisfaction or 0:.2f}"
        )
        suggestion = (
            f"<h2>Suggested reply</h2><p>From conversation {e(reply.conversation_id)} "
            f"({e(why)}), answering a message about {e(reply.need or 'an unknown need')}:</p>"
            f'<blockquote id="reply">{e(reply.text)}</blockquote>'
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(asked.event_id)}: similar communications</title>"
        '<link rel="stylesheet" href="/static/ops.css"></head><body>'
        f"<h1>Similar to {e(asked.event_id)} ({e(asked.need or 'need unknown')})</h1>"
        f"<blockquote>{e(asked.text)}</blockquote>"
        '<table class="grid" id="similar"><thead><tr><th>occurred_at</th><th>need</th>'
        "<th>satisfaction</th><th>similarity</th><th>text</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>{suggestion}"
        '<p><a href="/">back to the ops page</a></p></body></html>'
    )


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def create_app(settings: Settings) -> web.Application:
    """The ops application; it opens its clients on start-up and closes them on clean-up."""
    app = web.Application()
    app[SETTINGS] = settings

    async def clients(app: web.Application) -> Any:
        es = create_async_client(settings)
        async with aiohttp.ClientSession() as http:
            app[ES] = es
            app[SYNC_ES] = create_client(settings)
            app[SNAPSHOTS] = Snapshots(settings, es, http)
            yield
            app[SYNC_ES].close()
            await es.close()

    app.cleanup_ctx.append(clients)
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/api/snapshot", snapshot)
    app.router.add_get("/api/stream", stream)
    app.router.add_get("/communications", communications)
    app.router.add_get("/similar", similar)
    app.router.add_get("/healthz", healthz)
    return app


def serve(settings: Settings) -> None:
    """Serve the ops page until interrupted."""
    web.run_app(
        create_app(settings),
        host=settings.ops_web_host,
        port=settings.ops_web_port,
        print=lambda _: None,
        shutdown_timeout=2.0,
    )
