"""The ops page in a real browser while a real worker processes an incident.

Headless Chromium (Debian's ``chromium``, which ``make`` installs) driven by
Playwright (with ``executable_path``: no browser download) opens the page once;
the worker, fed the incident of ``test_alerts.py`` half an hour of event time at
a time, fires an alert for
agent-003 and later resolves it. The page must show the firing alert, then its
resolution, without being reloaded (a marker set in the page at the start is
still there at the end, and the page never navigated). Its screenshot, taken
while the alert fires, is saved as an artifact: in ``TEST_ARTIFACTS_DIR``
when set, else in the test's temporary folder. Prometheus is a private one
scraping this worker every second (the shipped configuration otherwise), so
the model panel shows this worker's models.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from playwright.sync_api import Page, sync_playwright

from config.settings import Settings
from crmstream.generator import EventGenerator, GeneratedEvent
from crmstream.infra import WorkerProcess
from crmstream.infra.servers import OpsPageServer, PrometheusServer
from crmstream.ops.server import newest_messages
from streams.topics import MODEL_EVENTS
from tests.conftest import free_port, namespace_settings, start_scoped_worker
from tests.integration.support import send_events, wait_until
from tests.integration.test_alerts import INCIDENT, RULES, T0, agent_alerts, caught_up, chunks

CHROMIUM = Path("/usr/bin/chromium")
# Waits for what the page shows: generous, since the machine may be busy.
PAGE_WAIT_MS = 120_000


def artifacts_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("TEST_ARTIFACTS_DIR", tmp_path / "artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def stack(scoped: Settings, tmp_path: Path) -> Iterator[tuple[WorkerProcess, str]]:
    """A worker with the incident rules, a private Prometheus scraping it, the ops page."""
    rules = tmp_path / "alerts.yml"
    rules.write_text(RULES)
    worker = start_scoped_worker(
        scoped,
        tmp_path / "worker.log",
        CRMSTREAM_ALERT_RULES_FILE=str(rules),
        CRMSTREAM_MODEL_SNAPSHOT_INTERVAL_S="5",
    )
    local = Settings(
        namespace=scoped.namespace,
        state_dir=tmp_path / "state",
        worker_web_port=urlsplit(worker.metrics_url).port or 0,
        learner_web_port=urlsplit(worker.learner_metrics_url).port or 0,
        prometheus_url=f"http://127.0.0.1:{free_port()}",
        alertmanager_url=f"http://127.0.0.1:{free_port()}",
        ops_web_port=free_port(),
        ops_refresh_s=1.0,
    )
    prometheus = PrometheusServer(local, interval="1s")
    page = OpsPageServer(local)
    try:
        prometheus.start()
        page.start()
        yield worker, page.url
    finally:
        page.stop()
        prometheus.stop()
        worker.stop()


def test_the_page_shows_an_alert_fire_and_resolve_without_a_reload(
    scoped: Settings, stack: tuple[WorkerProcess, str], tmp_path: Path
) -> None:
    _, url = stack
    events = list(
        EventGenerator(seed=1, agents=3, customers=200, start=T0, incidents=[INCIDENT]).events(5000)
    )
    # Playwright's sync API runs an event loop in this thread: Kafka I/O (asyncio.run) goes
    # to a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as stream, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1250})
            page = context.new_page()
            page.goto(url)
            page.wait_for_selector("body[data-updates]", timeout=PAGE_WAIT_MS)
            page.evaluate("window.opsTestMarker = 'loaded once'")
            navigations: list[str] = []
            page.on("framenavigated", lambda frame: navigations.append(frame.url))

            screenshot = None
            for chunk in chunks(events):
                alerts = stream.submit(feed, scoped, chunk).result()
                if screenshot is None and any(a["state"] == "firing" for a in alerts):
                    screenshot = check_firing(page, artifacts_dir(tmp_path))
            assert screenshot is not None, "the alert never fired"

            (firing, resolved) = stream.submit(agent_alerts, scoped).result()
            assert (firing["state"], resolved["state"]) == ("firing", "resolved")
            row = f'#alerts-resolved tr[data-alert-id="{firing["alert_id"]}"]'
            page.wait_for_selector(row, timeout=PAGE_WAIT_MS)
            assert "recovered" in page.inner_text(row)
            assert page.locator("#alerts-firing tbody tr").count() == 0
            assert page.inner_text("#firing-count") == "0"

            # Never reloaded: the marker survived and the page did not navigate.
            assert page.evaluate("window.opsTestMarker") == "loaded once"
            assert navigations == []
            assert int(page.evaluate("document.body.dataset.updates")) > 2

            check_alert_link(page, firing["alert_id"])
        finally:
            browser.close()


def feed(settings: Settings, chunk: list[GeneratedEvent]) -> list[dict[str, Any]]:
    """Send one slice of the stream, wait until the worker has it; the agent alerts so far."""
    send_events(settings, chunk)
    wait_until(lambda: caught_up(settings), timeout_s=120, what="the worker catching up")
    return agent_alerts(settings)


def check_firing(page: Page, artifacts: Path) -> Path:
    """The firing alert on the page, a satisfaction chart and the model panel; screenshot."""
    row = page.wait_for_selector(
        '#alerts-firing tr[data-state="firing"]:has(td.key:text("agent agent-003"))',
        timeout=PAGE_WAIT_MS,
    )
    assert row is not None
    text = row.inner_text()
    assert "agent_rated_satisfaction_low" in text
    assert row.query_selector(".sev-warning") is not None
    assert "vs 0.35" in text
    # Model health once the worker scores with a learned snapshot (versions in use).
    page.wait_for_function(
        "document.querySelector('#model-summary').innerText.includes('need v')",
        timeout=PAGE_WAIT_MS,
    )
    assert page.locator("#chart-satisfaction .scatterlayer .trace").count() > 0
    assert page.locator("#chart-accuracy .scatterlayer .trace").count() > 0
    path = artifacts / "ops-page.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0
    # Per agent and per need a click away (per channel is the default).
    for split, key in (("agent", "agent-003"), ("need", "refund"), ("channel", "email")):
        page.click(f'#split-tabs button[data-split="{split}"]')
        legend = page.locator("#chart-satisfaction .legendtext").all_text_contents()
        assert key in legend, (split, legend)
    return path


def check_alert_link(page: Page, alert_id: str) -> None:
    """The alert's link opens the communications of its agent in its window."""
    link = page.locator(f'#alerts-resolved tr[data-alert-id="{alert_id}"] a.communications')
    href = link.get_attribute("href")
    assert href is not None
    communications = page.context.new_page()  # a tab of its own: the ops page stays as it is
    communications.goto(urljoin(page.url, href))
    rows = communications.locator("#communications tbody tr")
    assert rows.count() > 0
    agents = communications.locator("#communications tbody td:nth-child(3)").all_inner_texts()
    assert set(agents) == {"agent-003"}
    assert 'agent_id : "agent-003"' in communications.inner_text("#kql")
    communications.close()


def test_the_newest_messages_of_an_empty_or_missing_topic_are_none(
    local_servers: list[Any],
) -> None:
    """Read in no time, so the group-less consumer stops right after it started (which
    aiokafka 0.14 answered with a CancelledError that emptied the page's snapshot)."""
    with namespace_settings(f"o{uuid.uuid4().hex[:10]}") as settings:
        assert asyncio.run(newest_messages(settings, MODEL_EVENTS, 500)) == []
        assert asyncio.run(newest_messages(settings, "crm.no-such-topic", 500)) == []
