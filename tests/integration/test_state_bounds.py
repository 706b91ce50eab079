"""Soak: 200,000 distinct customers and conversations, and the worker's state stays bounded.

Every event is a new customer opening a new conversation that nobody answers, two
seconds of event time apart (about four and a half days in all). With customers idle
after an hour and unanswered turns dropped after an hour, the alert state, the
conversations table and the customer profiles hold about an hour of keys at any time:
once eviction has started, their key counts, their RocksDB folders on disk and the
worker's memory stop growing.
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.settings import Settings
from crmstream.generator import EventGenerator, GeneratedEvent
from streams.topics import ALERT_AGGREGATES, COMMUNICATIONS, CONVERSATION_TURNS, FEEDBACK
from tests.conftest import start_scoped_worker
from tests.integration.support import consumer_lag, wait_until
from tests.integration.test_faults import assert_flat, rss_mb, send_in_background

pytestmark = [pytest.mark.integration, pytest.mark.faults]

# 100,000 customers, 2 s apart: 55 hours of event time, evicting after the first hour.
# (200,000 took the 2-core CI machine 12-16 min to drain, at the suite's per-test limit:
# in this session's CI run 23 it was stopped at 900 s with the worker still draining,
# and 49a615f, measured back to back, drained it about as slowly.)
CUSTOMERS = 100_000
APART = timedelta(seconds=2)
T0 = datetime(2026, 5, 4, tzinfo=UTC)
SHIPPED_RULES = Path(__file__).resolve().parents[2] / "config" / "alerts.yml"
SHIPPED_CUSTOMERS = SHIPPED_RULES.with_name("customers.yml")
TABLES = ("alert-state", "conversations", "customer-profiles")


def one_turn_conversations(count: int) -> list[GeneratedEvent]:
    """``count`` inbound messages, each from a customer and conversation of its own."""
    inbound = (
        e
        for e in EventGenerator(seed=7301).events(4 * count)
        if e.kind == "communication" and e.value["direction"] == "inbound"
    )
    events = []
    for i, event in enumerate(itertools.islice(itertools.cycle(list(inbound)), count)):
        customer = f"soak-c{i:07d}"
        value = {
            **event.value,
            "event_id": f"soak-{i:07d}",
            "customer_id": customer,
            "conversation_id": f"soak-v{i:07d}",
            "occurred_at": (T0 + i * APART).isoformat().replace("+00:00", "Z"),
        }
        events.append(GeneratedEvent("communication", customer, value))
    return events


def rules_with_short_idle(path: Path) -> Path:
    rules: dict[str, Any] = yaml.safe_load(SHIPPED_RULES.read_text())
    rules["state"] = {
        "idle": dict.fromkeys(("customer", "agent", "channel", "need"), "1h"),
        "unanswered_turn_max_age": "1h",
    }
    path.write_text(yaml.safe_dump(rules))
    return path


def customers_with_short_idle(path: Path) -> Path:
    config: dict[str, Any] = yaml.safe_load(SHIPPED_CUSTOMERS.read_text())
    config["state"]["idle"] = "1h"
    path.write_text(yaml.safe_dump(config))
    return path


def disk_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1024**2


def test_state_stops_growing_once_idle_keys_are_evicted(scoped: Settings, tmp_path: Path) -> None:
    events = one_turn_conversations(CUSTOMERS)
    rules = rules_with_short_idle(tmp_path / "alerts.yml")
    customers = customers_with_short_idle(tmp_path / "customers.yml")
    worker = start_scoped_worker(
        scoped,
        tmp_path / "worker.log",
        CRMSTREAM_ALERT_RULES_FILE=str(rules),
        CRMSTREAM_CUSTOMERS_FILE=str(customers),
    )
    port = worker.env["CRMSTREAM_WORKER_WEB_PORT"]
    (state_dir,) = (scoped.state_dir / "worker").glob(f"*-{port}")
    samples: list[dict[str, float]] = []
    stop = threading.Event()

    def sample() -> None:
        assert worker.process is not None
        while not stop.wait(2.0):
            page = worker.metrics()
            if page is None:
                continue
            samples.append(
                {
                    "rss": rss_mb(worker.process.pid),
                    "disk": disk_mb(state_dir),
                    **{
                        f"{kind}:{table}": worker.metric(name, table=table) or 0.0
                        for kind, name in (
                            ("keys", "crmstream_table_keys"),
                            ("expired", "crmstream_table_keys_expired_total"),
                        )
                        for table in TABLES
                    },
                }
            )

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        send_in_background(scoped, events, rate=1500).join()
        wait_until(
            lambda: (
                consumer_lag(scoped, COMMUNICATIONS, FEEDBACK, CONVERSATION_TURNS, ALERT_AGGREGATES)
                == 0
            ),
            timeout_s=900,
            what="the worker catching up",
        )
        time.sleep(4)  # a last sample of the settled state
    finally:
        stop.set()
        sampler.join()
        worker.stop()

    last = samples[-1]
    print(
        f"\nsoak: {len(samples)} samples; at the end "
        + ", ".join(
            f"{table} {last[f'keys:{table}']:.0f} keys ({last[f'expired:{table}']:.0f} expired)"
            for table in TABLES
        )
        + f"; disk {last['disk']:.1f} MB; RSS {last['rss']:.0f} MB"
    )
    # Nearly every customer and conversation was evicted; about an hour's worth remains.
    hour = timedelta(hours=1) / APART
    for table in TABLES:
        assert last[f"expired:{table}"] >= 0.9 * CUSTOMERS, table
        assert last[f"keys:{table}"] <= 4 * hour, table
    # From the first eviction on, no measure keeps growing.
    started = next(i for i, s in enumerate(samples) if s["expired:alert-state"] > 0)
    evicting = samples[started:]
    third = len(evicting) // 3
    assert third >= 10, f"too few samples after eviction started ({len(evicting)})"
    for measure in (f"keys:{table}" for table in TABLES):
        early = max(s[measure] for s in evicting[:third])
        late = max(s[measure] for s in evicting[2 * third :])
        print(f"{measure}: max {early:.0f} in the first third, {late:.0f} in the last")
        assert late <= 1.5 * early + 100, measure
    middle_disk = statistics.median(s["disk"] for s in evicting[third : 2 * third])
    last_disk = statistics.median(s["disk"] for s in evicting[2 * third :])
    print(f"RocksDB on disk: median {middle_disk:.1f} MB (middle third), {last_disk:.1f} MB (last)")
    assert last_disk <= 1.5 * middle_disk + 5
    assert_flat("worker", [s["rss"] for s in evicting])
