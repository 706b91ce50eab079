"""``crmstream bench``: every stage alone, then end to end, on the same events.

Order: build the events → (a) edge, scoring and learning in process, each timed
on its own → (b) Elasticsearch bulk ingest of (a)'s documents → (c) Kafka
produce and consume → (d) end to end through a worker. All of it in a fresh
``bench<hex>`` namespace, deleted at the end; the servers are started like
``crmstream infra up`` (running ones are reused and left running).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from bench.end_to_end import SAMPLE_EVERY, WARMUP_EVENTS, end_to_end
from bench.events import build_event_set, resolve_dataset
from bench.namespace import bench_namespace
from bench.report import (
    build_report,
    interference,
    machine_info,
    render_table,
    report_path,
    write_report,
)
from bench.stages import elasticsearch_stage, kafka_stage, model_stage
from config.settings import Settings
from crmstream.infra import infra_up, servers
from crmstream.progress import progress_bar

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "airline_tweets"


def server_pids(settings: Settings) -> dict[str, int | None]:
    """The pid of every local server (a changed pid means it was restarted)."""
    return {server.name: server.pid() for server in servers(settings) if server.managed}


def run_bench(
    base: Settings,
    *,
    out: Path,
    events: int,
    latency_seconds: float,
    dataset: Path | None,
    console: Console,
    errors: Console,
) -> Path:
    """Measure, write ``out/<UTC timestamp>.json``, print the table; return the file."""
    started_at = datetime.now(UTC)
    started = time.monotonic()
    tweets = resolve_dataset(dataset)
    if tweets is None:
        errors.print(f"[yellow]dataset not found at {dataset}: generated events only[/yellow]")
    infra_up(base, console)
    pids_before = server_pids(base)
    path = report_path(out, started_at)
    log_file = path.with_suffix(".worker.log")
    with (
        bench_namespace(base) as settings,
        progress_bar(errors, label_width=18, show_percentage=True) as progress,
    ):
        errors.print(f"bench namespace {settings.namespace}; worker log {log_file}")
        building = progress.add_task("events", total=1)
        event_set = build_event_set(events, tweets)
        warmup = [e.renamed("-warm") for e in event_set.events[:WARMUP_EVENTS]]
        progress.update(building, completed=1)

        task = progress.add_task("(a) edge+score+learn", total=len(event_set.events))
        model = model_stage(
            settings, event_set.events, warmup=warmup, advance=lambda n: progress.advance(task, n)
        )
        task = progress.add_task(
            "(b) elasticsearch", total=model.parts["scoring"].extra["communications_scored"]
        )
        search = elasticsearch_stage(
            settings, model.documents, advance=lambda n: progress.advance(task, n)
        )
        model.documents.clear()  # (d) builds its own
        task = progress.add_task("(c) kafka", total=len(event_set.events))
        kafka = kafka_stage(settings, event_set.events, advance=lambda n: progress.advance(task, n))
        e2e = end_to_end(
            settings,
            event_set.events,
            model.dead_positions,
            latency_seconds=latency_seconds,
            log_file=log_file,
            progress=progress,
        )
        config = {
            "namespace": settings.namespace,
            "batch_max_events": settings.batch_max_events,
            "batch_max_wait_s": settings.batch_max_wait_s,
            "topic_partitions": settings.topic_partitions,
            "latency_seconds": latency_seconds,
            "latency_sample_every": SAMPLE_EVERY,
            "worker_log": str(log_file),
        }
    disturbed = interference(pids_before, server_pids(base), model_cpu_share=model.cpu_share)
    report = build_report(
        stages={
            **{name: part.as_dict() for name, part in model.parts.items()},
            "elasticsearch": search.as_dict(),
            "kafka": kafka.as_dict(),
        },
        end_to_end=e2e.as_dict(),
        machine=machine_info(base, REPO),
        events=event_set.describe(),
        config=config,
        started_at=started_at,
        duration_s=time.monotonic() - started,
        disturbed=disturbed,
    )
    write_report(report, path)
    console.print(render_table(report))
    console.print(f"wrote {path}")
    return path
