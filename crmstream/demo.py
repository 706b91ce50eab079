"""``crmstream demo``: the whole path on real servers, end to end, in one command.

Brings the local servers up, starts a worker, produces generated events (plus a
few malformed ones, to show the dead-letter path), waits until Elasticsearch has
every communication, prints a summary, stops the worker and starts the live ops
page (``crmstream ops``) in the background. The servers and the page keep
running so the results can be searched; ``crmstream infra down`` stops them.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from config.settings import Settings, redact_url
from crmstream.cluster import prepare_cluster
from crmstream.generator import EventGenerator, GeneratedEvent
from crmstream.infra.control import infra_up
from crmstream.infra.errors import InfraError
from crmstream.infra.worker import WorkerProcess
from crmstream.produce import encode_events, produce
from crmstream.progress import progress_bar
from streams.search_index import COMMUNICATIONS_ALIAS, count_communications, create_client
from streams.topics import COMMUNICATIONS

console = Console()

MALFORMED_SAMPLES: tuple[bytes, ...] = (
    b"this is not json",
    b'{"event_id": "bad-1", "channel": "pigeon"}',
    b"\xff\xfe not utf-8",
)


@dataclass(frozen=True)
class DemoSummary:
    produced: int
    communications: int
    feedback: int
    malformed: int
    indexed: int
    dead_letters: int
    elapsed_s: float


def model_view(settings: Settings, event_ids: Sequence[str]) -> dict[str, Any]:
    """What the models said about this run's communications (aggregated by Elasticsearch)."""
    client = create_client(settings)
    try:
        response = client.search(
            index=settings.index_name(COMMUNICATIONS_ALIAS),
            size=0,
            query={"terms": {"event_id": list(event_ids)}},
            aggs={
                "needs": {"terms": {"field": "need", "size": 5}},
                "sources": {"terms": {"field": "need_source"}},
                "satisfaction": {"avg": {"field": "satisfaction"}},
                "urgent": {"filter": {"terms": {"urgency_level": ["P1", "P2"]}}},
                "version": {"max": {"field": "model_versions.bundle"}},
            },
        )
        return dict(response["aggregations"])
    finally:
        client.close()


def run_demo(settings: Settings, *, count: int, seed: int | None, timeout_s: float) -> DemoSummary:
    seed = random.SystemRandom().randrange(2**31) if seed is None else seed
    console.rule("[bold]crmstream demo")
    infra_up(settings, console)
    asyncio.run(prepare_cluster(settings))

    events: list[GeneratedEvent] = list(EventGenerator(seed).events(count))
    communication_ids = [e.value["event_id"] for e in events if e.kind == "communication"]
    # The demo lasts about half a minute: snapshots every 5 s (not the default 30 s)
    # let its worker score with what the learner learned before it ends.
    snapshots = {"CRMSTREAM_MODEL_SNAPSHOT_INTERVAL_S": "5"}
    worker = WorkerProcess(
        {k: v for k, v in snapshots.items() if k not in os.environ},
        settings.state_dir / "demo-worker.log",
        web_port=settings.worker_web_port,
        learner_port=settings.learner_web_port,
        web_host=settings.worker_web_host,
    )
    started = time.monotonic()
    with console.status("starting the worker ..."):
        worker.start()
    console.print(f"[green]✓[/green] worker running (log: {worker.log_file})")
    try:
        with progress_bar(console) as bar:
            sending = bar.add_task("produced", total=count + len(MALFORMED_SAMPLES))
            indexing = bar.add_task("indexed", total=len(communication_ids))
            topic = settings.topic_name(COMMUNICATIONS)
            messages = [
                *encode_events(settings, events),
                *((topic, None, m) for m in MALFORMED_SAMPLES),
            ]
            # The first half, then the second once the worker scores with a snapshot
            # the learner made from the first: the stream itself shows the models learning
            # (the whole stream is indexed in seconds, before the first snapshot).
            half = len(messages) // 2
            advance = lambda n: bar.advance(sending, n)  # noqa: E731
            asyncio.run(produce(settings, messages[:half], on_sent=advance))
            wait_for_a_learned_model(worker, timeout_s=min(60.0, timeout_s))
            asyncio.run(produce(settings, messages[half:], on_sent=advance))
            deadline = time.monotonic() + timeout_s
            indexed = 0
            dead_letters = 0
            # Done when every communication is indexed and the malformed ones dead-lettered
            # (they may sit in a partition the worker reaches last).
            while indexed < len(communication_ids) or dead_letters < len(MALFORMED_SAMPLES):
                if time.monotonic() > deadline:
                    raise InfraError(
                        f"after {timeout_s:.0f}s: {indexed} of {len(communication_ids)} indexed, "
                        f"{dead_letters} of {len(MALFORMED_SAMPLES)} dead letters"
                    )
                if not worker.alive:
                    raise InfraError(f"the worker stopped; see {worker.log_file}")
                time.sleep(1.0)
                indexed = count_communications(settings, communication_ids)
                dead_letters = int(worker.metric("crmstream_dead_letters_total") or 0)
                bar.update(indexing, completed=indexed)
        elapsed = time.monotonic() - started
        summary = DemoSummary(
            produced=len(messages),
            communications=len(communication_ids),
            feedback=count - len(communication_ids),
            malformed=len(MALFORMED_SAMPLES),
            indexed=indexed,
            dead_letters=dead_letters,
            elapsed_s=elapsed,
        )
    finally:
        with console.status("stopping the worker ..."):
            code = worker.stop()
        console.print(f"worker stopped (exit code {code})")
    print_summary(summary, seed)
    print_model_view(model_view(settings, communication_ids), summary.indexed)
    start_ops_page(settings)
    print_next_steps(settings)
    return summary


def start_ops_page(settings: Settings) -> None:
    """Leave the live ops page running beside the servers (``infra down`` stops it)."""
    from crmstream.infra.servers import OpsPageServer

    page = OpsPageServer(settings)
    try:
        with console.status("starting the ops page ..."):
            started = page.start()
    except InfraError as error:
        console.print(f"[yellow]ops page not started:[/yellow] {error}")
        return
    how = "running" if started else "already running"
    console.print(f"[green]✓[/green] ops page {how}: {page.url}", soft_wrap=True)


def wait_for_a_learned_model(worker: WorkerProcess, timeout_s: float) -> bool:
    """Wait until the worker scores with a snapshot the learner published (version > 0)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and worker.alive:
        if (worker.metric("crmstream_model_version", role="scorer") or 0) > 0:
            return True
        time.sleep(0.5)
    return False


def print_model_view(view: dict[str, Any], indexed: int) -> None:
    sources = {b["key"]: b["doc_count"] for b in view["sources"]["buckets"]}
    table = Table(title="what the online models said", show_header=False)
    needs = ", ".join(f"{b['key']} {b['doc_count']}" for b in view["needs"]["buckets"])
    table.add_row("top needs", needs or "-")
    table.add_row(
        "need from", f"{sources.get('label', 0)} labels, {sources.get('model', 0)} predictions"
    )
    satisfaction = view["satisfaction"]["value"]
    table.add_row(
        "mean predicted satisfaction", "-" if satisfaction is None else f"{satisfaction:.2f}"
    )
    table.add_row("urgent (P1/P2)", f"{view['urgent']['doc_count']} of {indexed}")
    version = view["version"]["value"]
    table.add_row("newest model version used", "-" if version is None else str(int(version)))
    console.print(table)


def print_summary(summary: DemoSummary, seed: int) -> None:
    table = Table(title=f"crmstream demo (seed {seed})", show_header=False)
    table.add_row("produced", f"{summary.produced} messages")
    table.add_row("  communications", str(summary.communications))
    table.add_row("  feedback", f"{summary.feedback} (the models learn from them)")
    table.add_row("  malformed", f"{summary.malformed} (on purpose)")
    table.add_row("indexed in Elasticsearch", str(summary.indexed))
    table.add_row("dead letters (crm.deadletter)", str(summary.dead_letters))
    table.add_row("elapsed", f"{summary.elapsed_s:.1f}s")
    console.print(table)


def curl_options(settings: Settings) -> str:
    """curl's options for our Elasticsearch: its CA, and the user (curl asks the password).

    >>> curl_options(Settings())
    ''
    >>> from pathlib import Path
    >>> curl_options(Settings(elasticsearch_ca_certs=Path("/s/ca.crt"),
    ...                       elasticsearch_username="crmstream", elasticsearch_password="pw"))
    '--cacert /s/ca.crt -u crmstream '
    """
    options = ""
    if settings.elasticsearch_ca_certs is not None:
        options += f"--cacert {settings.elasticsearch_ca_certs} "
    if settings.elasticsearch_username:
        options += f"-u {settings.elasticsearch_username} "
    elif settings.elasticsearch_api_key is not None:
        options += '-H "Authorization: ApiKey $CRMSTREAM_ELASTICSEARCH_API_KEY" '
    return options


def print_next_steps(settings: Settings) -> None:
    alias = settings.index_name(COMMUNICATIONS_ALIAS)
    # As the user called us (e.g. .venv/bin/crmstream from `make demo`).
    command = sys.argv[0] if sys.argv[0].endswith("crmstream") else "crmstream"
    console.print("Try a search:")
    console.print(f'  {command} search "refund" --channel email')
    console.print(f'  {command} search "退款" --max-satisfaction 0.5')
    url = f"{redact_url(settings.elasticsearch_url)}/{alias}/_search?q=text:refund&size=3&pretty"
    console.print(f"  curl -s {curl_options(settings)}'{url}'", soft_wrap=True)
    console.print(
        f"Servers and the ops page are still running; stop them with: {command} infra down"
    )
