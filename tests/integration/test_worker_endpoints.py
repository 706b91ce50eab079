"""The worker's operational endpoints: liveness, readiness and its own metrics."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from config.settings import Settings
from crmstream.generator import EventGenerator
from crmstream.infra import WorkerProcess
from tests.integration.support import indexed, send_events, wait_until


def get(settings: Settings, path: str) -> tuple[int, Any]:
    url = f"http://127.0.0.1:{settings.worker_web_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_live_and_ready(settings: Settings, worker: WorkerProcess) -> None:
    assert get(settings, "/livez") == (200, {"status": "alive"})
    # Ready once it joined the group and Elasticsearch answered its first check.
    wait_until(lambda: get(settings, "/readyz")[0] == 200, timeout_s=60, what="/readyz 200")
    assert get(settings, "/readyz")[1] == {"status": "ready"}


def test_metrics_cover_latency_lag_satisfaction_and_elasticsearch(
    settings: Settings, worker: WorkerProcess
) -> None:
    events = list(EventGenerator(seed=4242).events(300))
    ids = [e.value["event_id"] for e in events if e.kind == "communication"]
    send_events(settings, events)
    wait_until(lambda: len(indexed(settings, ids)) == len(ids), what="the batch indexed")

    def observed(name: str, **labels: str) -> float:
        return worker.metric(name, **labels) or 0.0

    topic = settings.topic_name("crm.communications")
    wait_until(
        lambda: observed("crmstream_end_to_end_seconds_count", topic=topic) >= len(ids),
        timeout_s=30,
        what="end-to-end latency observed for every communication",
    )
    assert observed("crmstream_processing_seconds_count", agent="score_communications") > 0
    assert observed("crmstream_elasticsearch_bulk_seconds_count") > 0
    assert observed("crmstream_predicted_satisfaction_count") > 0
    assert observed("crmstream_rated_satisfaction_count") > 0
    # The lag gauge is set every 10 s for the partitions this worker holds.
    wait_until(
        lambda: worker.metric("crmstream_consumer_lag", topic=topic) is not None,
        timeout_s=30,
        what="a consumer lag figure for the communications topic",
    )
    page = worker.metrics() or ""
    assert "crmstream_faust_" in page, "Faust's own Prometheus sensor is exported too"
