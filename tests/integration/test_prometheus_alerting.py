"""The real Prometheus scrapes the real worker, a shipped rule fires, Alertmanager delivers it.

The rules are config/prometheus/rules/crmstream.yml with time compressed (every
range and ``for:`` shortened) so that the test takes seconds instead of the
ten minutes a production rule waits; the expressions are the shipped ones.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from config.settings import Settings
from crmstream.infra import WorkerProcess
from crmstream.infra.servers import CONFIG_DIR, AlertmanagerServer, PrometheusServer
from streams.topics import FEEDBACK
from tests.conftest import free_port
from tests.integration.support import send_raw, wait_until

RULE = "CrmstreamRatedSatisfactionLow"


def compressed_rules(target: Path) -> Path:
    """Copy the shipped rules with every range as [20s] and every ``for:`` as 0s."""
    text = (CONFIG_DIR / "prometheus" / "rules" / "crmstream.yml").read_text()
    text = re.sub(r"\[\d+[smhd]\]", "[20s]", text)
    text = re.sub(r"\bfor: *\d+[smhd]", "for: 0s", text)
    (target / "rules").mkdir(parents=True)
    (target / "rules" / "crmstream.yml").write_text(text)
    return target


class Webhook:
    """A tiny HTTP receiver standing in for a paging/chat bridge: it keeps what it is sent."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Webhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def api(url: str, path: str, **params: str) -> Any:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{url}{path}{query}", timeout=5) as response:
        return json.loads(response.read())["data"]


def low_ratings(count: int, start: int) -> list[bytes]:
    now = datetime.now(UTC).isoformat()
    return [
        orjson.dumps(
            {"event_id": f"prom-{start + i}", "occurred_at": now, "customer_id": f"c{i % 7}",
             "kind": "csat", "score": 1, "scale": {"min": 1, "max": 5}, "comment": "awful"}
        )
        for i in range(count)
    ]  # fmt: skip


@pytest.fixture
def monitoring(settings: Settings, tmp_path: Path) -> Iterator[tuple[Settings, Webhook]]:
    """Prometheus (1 s scrape and evaluation) and Alertmanager on free ports, own state."""
    local = Settings(
        namespace=settings.namespace,
        worker_web_port=settings.worker_web_port,
        state_dir=tmp_path / "state",
        prometheus_url=f"http://127.0.0.1:{free_port()}",
        alertmanager_url=f"http://127.0.0.1:{free_port()}",
    )
    with Webhook() as webhook:
        alertmanager = AlertmanagerServer(local, webhook_url=webhook.url)
        prometheus = PrometheusServer(local, rules_dir=compressed_rules(tmp_path), interval="1s")
        try:
            alertmanager.start()
            prometheus.start()
            yield local, webhook
        finally:
            prometheus.stop()
            alertmanager.stop()


def test_rule_fires_in_prometheus_and_reaches_the_webhook(
    settings: Settings, worker: WorkerProcess, monitoring: tuple[Settings, Webhook]
) -> None:
    local, webhook = monitoring
    wait_until(
        lambda: any(
            t["labels"]["job"] == "crmstream-worker" and t["health"] == "up"
            for t in api(local.prometheus_url, "/api/v1/targets")["activeTargets"]
        ),
        timeout_s=60,
        what="Prometheus scraping the worker",
    )
    sent = 0

    def firing() -> bool:
        nonlocal sent
        # Keep the ratings coming: the rule looks at a short rate window.
        sent += send_raw(settings, FEEDBACK, low_ratings(20, sent))
        alerts = api(local.prometheus_url, "/api/v1/alerts")["alerts"]
        return any(a["labels"]["alertname"] == RULE and a["state"] == "firing" for a in alerts)

    wait_until(firing, timeout_s=180, what=f"{RULE} firing in Prometheus")
    value = api(local.prometheus_url, "/api/v1/query", query="crmstream_rated_satisfaction_count")
    assert value, "the worker's rating histogram is scraped"

    def delivered() -> list[dict[str, Any]]:
        if not any(a["labels"]["alertname"] == RULE for a in _posted(webhook)):
            send_raw(settings, FEEDBACK, low_ratings(20, sent))
        return [a for a in _posted(webhook) if a["labels"]["alertname"] == RULE]

    alerts = wait_until(delivered, timeout_s=120, what=f"{RULE} posted to the webhook")
    assert alerts[0]["status"] == "firing"
    assert alerts[0]["labels"]["severity"] == "warning"
    assert alerts[0]["annotations"]["summary"]


def _posted(webhook: Webhook) -> list[dict[str, Any]]:
    return [alert for payload in webhook.received for alert in payload.get("alerts", [])]
