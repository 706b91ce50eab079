"""Liveness and readiness on the worker's web port, and the consumer-lag gauge.

``GET /livez`` answers 200 while the worker's event loop runs (restart it when
it does not). ``GET /readyz`` answers 200 only when the worker does useful work:
its tables are recovered, it is not rebalancing, its Kafka topics exist as
configured and Elasticsearch answered the last check; otherwise 503 with the
reasons, so a load balancer or an orchestrator can wait for it.
"""

from __future__ import annotations

import logging
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError, AuthorizationException

from agents.inputs import input_reader
from streams import metrics
from streams.app import app, settings
from streams.runtime import release_free_memory
from streams.search_index import COMMUNICATIONS_ALIAS, create_async_client
from streams.topics import ALERT_AGGREGATES, CONVERSATION_TURNS, TopicSetupError, verify_topics

log = logging.getLogger(__name__)

# The topics Faust's agents read (tables' changelogs and the learner's topics excluded);
# the input topics' lag comes from their own reader (streams.inputs).
LAGGING_TOPICS = frozenset(
    settings.topic_name(name) for name in (ALERT_AGGREGATES, CONVERSATION_TURNS)
)


class _Elasticsearch:
    reachable: bool = False
    detail: str = "not checked yet"


@app.timer(interval=10.0, on_leader=False)
async def check_elasticsearch() -> None:
    es = create_async_client(settings)
    try:
        health = await es.cluster.health(timeout="5s")
        _Elasticsearch.reachable = health["status"] != "red"
        _Elasticsearch.detail = f"cluster status {health['status']}"
    except AuthorizationException:
        # Least-privilege credentials (templates and our own indices) may not see the
        # cluster's health: that Elasticsearch answers with our templates in place will do.
        try:
            await es.indices.get_index_template(name=settings.index_name(COMMUNICATIONS_ALIAS))
            _Elasticsearch.reachable = True
            _Elasticsearch.detail = "answers (cluster health not visible to these credentials)"
        except (ApiError, TransportError, OSError) as error:
            _Elasticsearch.reachable = False
            _Elasticsearch.detail = f"{type(error).__name__}: {error}"
    except (ApiError, TransportError, OSError) as error:
        _Elasticsearch.reachable = False
        _Elasticsearch.detail = f"{type(error).__name__}: {error}"
    finally:
        await es.close()


class _Topics:
    # The worker starts only once ensure_topics found every topic as configured
    # (crmstream.cluster.prepare_cluster); the check below notices a topic deleted or changed later.
    problem: str | None = None


@app.timer(interval=30.0, on_leader=False)
async def check_topics() -> None:
    try:
        await verify_topics(settings)
        _Topics.problem = None
    except TopicSetupError as error:
        if _Topics.problem != str(error):
            log.error("%s", error)
        _Topics.problem = str(error)
    except Exception as error:  # the broker did not answer: keep the last verdict
        log.warning("could not check the Kafka topics: %s: %s", type(error).__name__, error)


def readiness_problems() -> list[str]:
    """Why the worker is not ready (empty when it is)."""
    problems = []
    if app.rebalancing_count == 0:
        problems.append("not in the consumer group yet")
    elif app.rebalancing:
        problems.append("consumer group is rebalancing")
    reader = input_reader()
    if reader is None or not reader.joined:
        problems.append("not reading the input topics yet")
    if app.in_recovery:
        problems.append("tables are recovering from their changelogs")
    if _Topics.problem is not None:
        problems.append(_Topics.problem)
    if not _Elasticsearch.reachable:
        problems.append(f"Elasticsearch: {_Elasticsearch.detail}")
    return problems


@app.page("/livez")
async def liveness(self: Any, request: Any) -> Any:
    return self.json({"status": "alive"})


@app.page("/readyz")
async def readiness(self: Any, request: Any) -> Any:
    problems = readiness_problems()
    if problems:
        return self.json({"status": "not ready", "problems": problems}, status=503)
    return self.json({"status": "ready"})


@app.timer(interval=10.0, on_leader=False)
async def release_memory() -> None:
    """Hand the allocator's free pages back to the system (see streams.runtime)."""
    release_free_memory()


@app.timer(interval=10.0)
async def watch_consumer_lag() -> None:
    """Messages not yet processed on this worker's partitions (highwater - committed)."""
    try:
        _set_consumer_lag()
    except Exception:  # a gauge is not worth the worker: log, try again next time
        log.exception("could not measure the consumer lag")


def _set_consumer_lag() -> None:
    consumer = app.consumer
    committed: dict[Any, int | None] = getattr(consumer, "_committed_offset", {})
    metrics.CONSUMER_LAG.clear()
    for tp in consumer.assignment():
        if tp.topic not in LAGGING_TOPICS:
            continue
        try:
            highwater = consumer.highwater(tp)
        except Exception:  # not fetched yet: no figure rather than a crash
            continue
        if highwater is None:
            continue
        done = committed.get(tp) or 0
        metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, highwater - done))
    reader = input_reader()
    for tp, lag in (reader.lag() if reader is not None else {}).items():
        metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(lag)
