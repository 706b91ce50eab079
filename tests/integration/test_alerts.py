"""Live alerts end to end: an agent's incident → exactly one alert → one resolution.

The generator injects an incident (one agent's ratings collapse for three hours
of event time). Events are sent in event-time order, half an hour of stream at
a time, the way a live stream arrives. The worker is killed (-9) while the alert
is firing and a new one on a new port — so with an empty local state folder —
carries on: the windows and the firing episode must come back from the
changelog topics, or the resolution would be lost or a second alert fired.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from config.settings import Settings
from crmstream.generator import EventGenerator, GeneratedEvent, Incident
from streams.search_index import ALERTS_ALIAS, create_client
from streams.topics import ALERT_AGGREGATES, ALERTS, COMMUNICATIONS, CONVERSATION_TURNS, FEEDBACK
from tests.conftest import start_scoped_worker
from tests.integration.support import (
    assert_matches_contract,
    consumer_lag,
    read_topic,
    send_events,
    wait_until,
)

RULES = """
windows: {size: 1h, step: 5m, grace: 30m}
rules:
  - name: agent_rated_satisfaction_low
    kind: threshold
    dimension: agent
    metric: rated_satisfaction
    below: 0.35
    clear_margin: 0.15
    min_samples: 6
    severity: warning
    cooldown: 3h
"""
WINDOW = timedelta(hours=1)
T0 = datetime(2026, 3, 2, tzinfo=UTC)
INCIDENT = Incident("agent-003", T0 + timedelta(hours=4), T0 + timedelta(hours=7))
STEP = timedelta(minutes=30)  # no more than the rules' grace: nothing arrives too late


def chunks(events: list[GeneratedEvent]) -> Iterator[list[GeneratedEvent]]:
    """Consecutive slices of STEP event time (events come in occurred_at order)."""

    def slot(e: GeneratedEvent) -> int:
        at = datetime.fromisoformat(e.value["occurred_at"])
        return int((at - T0) / STEP)

    for _, group in itertools.groupby(events, key=slot):
        yield list(group)


def caught_up(settings: Settings) -> bool:
    return (
        consumer_lag(settings, COMMUNICATIONS, FEEDBACK, CONVERSATION_TURNS, ALERT_AGGREGATES) == 0
    )


def agent_alerts(settings: Settings) -> list[dict[str, Any]]:
    return [a for a in read_topic(settings, ALERTS, idle_s=1.0) if a["dimension"] == "agent"]


def test_an_agent_incident_fires_once_and_resolves_once(scoped: Settings, tmp_path: Path) -> None:
    rules = tmp_path / "alerts.yml"
    rules.write_text(RULES)
    env = {"CRMSTREAM_ALERT_RULES_FILE": str(rules)}
    generator = EventGenerator(seed=1, agents=3, customers=200, start=T0, incidents=[INCIDENT])
    events = list(generator.events(5000))
    worker = start_scoped_worker(scoped, tmp_path / "worker-1.log", **env)
    restarted = False
    try:
        for chunk in chunks(events):
            send_events(scoped, chunk)
            wait_until(lambda: caught_up(scoped), timeout_s=120, what="the worker catching up")
            if not restarted and any(a["state"] == "firing" for a in agent_alerts(scoped)):
                worker.kill()  # while the alert is firing: its state lives only in the tables
                worker = start_scoped_worker(scoped, tmp_path / "worker-2.log", **env)
                restarted = True
        assert restarted, "the alert never fired"

        alerts = agent_alerts(scoped)
        assert [(a["key"], a["state"]) for a in alerts] == [
            ("agent-003", "firing"),
            ("agent-003", "resolved"),
        ]
        assert_matches_contract(alerts, "alert")
        firing, resolved = alerts
        assert firing["alert_id"] == resolved["alert_id"]
        assert firing["rule"] == "agent_rated_satisfaction_low"
        assert firing["value"] < 0.35 and firing["samples"] >= 6
        # Raised on a window that overlaps the incident's first hour: within one window.
        start, end = (datetime.fromisoformat(firing[k]) for k in ("window_start", "window_end"))
        assert INCIDENT.start < end and start < INCIDENT.start + WINDOW
        # Resolved on evidence from after the incident.
        assert datetime.fromisoformat(resolved["window_end"]) > INCIDENT.end
        assert resolved["value"] >= 0.5

        client = create_client(scoped)
        try:
            alias = scoped.index_name(ALERTS_ALIAS)
            client.indices.refresh(index=alias)
            hits = client.search(index=alias, query={"term": {"dimension": "agent"}}, size=10)
            ids = sorted(hit["_id"] for hit in hits["hits"]["hits"])
        finally:
            client.close()
        assert ids == sorted(f"{a['alert_id']}:{a['state']}" for a in alerts)
        assert worker.metric("crmstream_alerts_resolved_total") == 1.0
    finally:
        worker.stop()


RESPONSE_RULES = """
windows: {size: 1d, grace: 1d}
rules:
  - name: agent_slow_replies
    kind: threshold
    dimension: agent
    metric: response_time_s
    above: 1h
    min_samples: 4
    severity: info
"""


def conversation(number: int, agent: str, wait: timedelta) -> list[dict[str, Any]]:
    """A customer's question and the agent's first reply ``wait`` later (an unassigned
    question: the reply names the agent), plus a second question nobody answered."""
    asked = T0 + timedelta(minutes=10 * number)
    base = {"customer_id": f"c{number}", "channel": "email", "conversation_id": f"{agent}-{number}"}
    return [
        {**base, "event_id": f"{agent}-{number}-q", "occurred_at": asked.isoformat(),
         "direction": "inbound", "text": f"Where is my order {number}?"},
        {**base, "event_id": f"{agent}-{number}-q2",
         "occurred_at": (asked + timedelta(minutes=1)).isoformat(),
         "direction": "inbound", "text": "Any news?"},
        {**base, "event_id": f"{agent}-{number}-a", "occurred_at": (asked + wait).isoformat(),
         "direction": "outbound", "agent_id": agent, "text": "It ships today."},
    ]  # fmt: skip


def test_slow_first_replies_of_one_agent_raise_a_response_time_alert(
    scoped: Settings, tmp_path: Path
) -> None:
    """Turns travel keyed by conversation, wait in the conversations table for their reply,
    and the response times reach the agent's windows: only the slow agent alerts."""
    rules = tmp_path / "alerts.yml"
    rules.write_text(RESPONSE_RULES)
    worker = start_scoped_worker(
        scoped, tmp_path / "worker.log", CRMSTREAM_ALERT_RULES_FILE=str(rules)
    )
    try:
        turns = [
            turn
            for number in range(6)
            for agent, wait in (
                ("agent-slow", timedelta(hours=5)),
                ("agent-quick", timedelta(minutes=5)),
            )
            for turn in conversation(number, agent, wait)
        ]
        turns.sort(key=lambda t: t["occurred_at"])
        send_events(
            scoped,
            [GeneratedEvent("communication", t["customer_id"], t) for t in turns],
        )
        wait_until(lambda: caught_up(scoped), timeout_s=120, what="the worker catching up")
        alerts = wait_until(lambda: agent_alerts(scoped), what="the slow-reply alert")
        assert [(a["key"], a["rule"], a["state"]) for a in alerts] == [
            ("agent-slow", "agent_slow_replies", "firing")
        ]
        # The time to the *first* reply: 5 h, not the 4 h 59 min to the second question.
        assert alerts[0]["value"] == 5 * 3600
        assert alerts[0]["samples"] >= 4
    finally:
        worker.stop()


SILENT_RULES = (
    RULES
    + """
state:
  idle: {agent: 2h}
  unanswered_turn_max_age: 1h
"""
)


def test_an_alert_whose_key_goes_silent_is_resolved_as_no_data(
    scoped: Settings, tmp_path: Path
) -> None:
    """The incident's agent goes off shift while its alert fires: nothing of it arrives any
    more. Two hours of event time later its state is dropped and the alert resolved as
    ``no_data`` (same alert id); the questions its customers asked stop waiting after one."""
    rules = tmp_path / "alerts.yml"
    rules.write_text(SILENT_RULES)
    generator = EventGenerator(seed=1, agents=3, customers=200, start=T0, incidents=[INCIDENT])
    events = list(generator.events(5000))
    worker = start_scoped_worker(
        scoped, tmp_path / "worker.log", CRMSTREAM_ALERT_RULES_FILE=str(rules)
    )
    silent_since: datetime | None = None
    try:
        for chunk in chunks(events):
            if silent_since is not None:
                chunk = [e for e in chunk if e.value.get("agent_id") != INCIDENT.agent_id]
            send_events(scoped, chunk)
            wait_until(lambda: caught_up(scoped), timeout_s=120, what="the worker catching up")
            if silent_since is None and any(a["state"] == "firing" for a in agent_alerts(scoped)):
                silent_since = datetime.fromisoformat(chunk[-1].value["occurred_at"])
        assert silent_since is not None, "the alert never fired"
        assert datetime.fromisoformat(events[-1].value["occurred_at"]) > silent_since + 3 * (
            timedelta(hours=1)
        ), "the stream must run on well past the idle time"

        alerts = [a for a in agent_alerts(scoped) if a["key"] == INCIDENT.agent_id]
        assert [(a["state"], a.get("resolution")) for a in alerts] == [
            ("firing", None),
            ("resolved", "no_data"),
        ]
        assert_matches_contract(alerts, "alert")
        assert alerts[0]["alert_id"] == alerts[1]["alert_id"]
        assert "no data since" in alerts[1]["message"]

        client = create_client(scoped)
        try:
            alias = scoped.index_name(ALERTS_ALIAS)
            client.indices.refresh(index=alias)
            hits = client.search(
                index=alias, query={"ids": {"values": [f"{alerts[1]['alert_id']}:resolved"]}}
            )["hits"]["hits"]
        finally:
            client.close()
        assert [hit["_source"]["resolution"] for hit in hits] == ["no_data"]
        assert (worker.metric("crmstream_table_keys_expired_total", table="alert-state") or 0) >= 1
        assert (
            worker.metric("crmstream_table_keys_expired_total", table="conversations") or 0
        ) >= 1
    finally:
        worker.stop()
