"""The benchmark's report: the JSON document, the machine it ran on, and the printed table.

The worker runs the edge and scoring one after the other in one process, on one core;
the learner, Elasticsearch and Kafka run beside it. End to end is therefore compared
with the slowest of those: the worker's path (edge and scoring together), learning,
Elasticsearch and Kafka.

>>> stages = {"edge": {"events_per_s": 3000.0}, "scoring": {"events_per_s": 6000.0},
...           "learning": {"events_per_s": 5000.0}, "elasticsearch": {"events_per_s": 9000.0}}
>>> pipeline_stages(stages)
{'worker': 2000.0, 'learning': 5000.0, 'elasticsearch': 9000.0}
>>> verdict = comparison(stages, {"events_per_s": 1800.0})
>>> verdict["slowest_stage"], verdict["end_to_end_over_slowest"], verdict["meets_required"]
('worker', 0.9, True)
>>> verdict["end_to_end_over_elasticsearch"]
0.2
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from rich.table import Table

from config.settings import Settings

REQUIRED_RATIO = 0.8
STAGE_LABELS = {
    "edge": "(a) edge: checks, cleaning, PII",
    "scoring": "(a) scoring",
    "learning": "(a) learning",
    "worker": "(a) worker path: edge + scoring",
    "elasticsearch": "(b) Elasticsearch bulk",
    "kafka": "(c) Kafka produce+consume",
}


def cpu_model(cpuinfo: str) -> str | None:
    """The first ``model name`` of a ``/proc/cpuinfo`` text."""
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "model name" and value.strip():
            return value.strip()
    return None


def ram_gb(meminfo: str) -> float | None:
    """``MemTotal`` of a ``/proc/meminfo`` text, in GiB."""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def git_commit(repo: Path) -> str | None:
    """The commit checked out in ``repo``, read from ``.git`` (no git process); None if unknown."""
    git = repo / ".git"
    if git.is_file():  # a worktree: "gitdir: <path>"
        pointer = _read(git).strip()
        if not pointer.startswith("gitdir:"):
            return None
        git = (repo / pointer.removeprefix("gitdir:").strip()).resolve()
    head = _read(git / "HEAD").strip()
    if not head.startswith("ref:"):
        return head or None
    ref = head.removeprefix("ref:").strip()
    common = git
    if (git / "commondir").is_file():
        common = (git / _read(git / "commondir").strip()).resolve()
    for base in (git, common):
        value = _read(base / ref).strip()
        if value:
            return value
    for line in _read(common / "packed-refs").splitlines():
        sha, _, name = line.partition(" ")
        if name.strip() == ref:
            return sha
    return None


def machine_info(settings: Settings, repo: Path) -> dict[str, Any]:
    """What the figures depend on: CPU, cores, memory, Python, server versions, commit."""
    return {
        "cpu_model": cpu_model(_read(Path("/proc/cpuinfo"))) or platform.processor() or None,
        "cores": os.cpu_count(),
        "ram_gb": ram_gb(_read(Path("/proc/meminfo"))),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "kafka_version": settings.kafka_version,
        "elasticsearch_version": settings.elasticsearch_version,
        "kafka_bootstrap_servers": settings.kafka_bootstrap_servers,
        "git_commit": git_commit(repo),
        # The worker's output guarantee (CRMSTREAM_EXACTLY_ONCE): transactions cost time.
        "exactly_once": settings.exactly_once,
    }


def pipeline_stages(stages: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Events/s of the stages that run side by side: edge and scoring, which one worker
    process runs one after the other, count as one stage, ``worker``."""
    rates = {name: float(stage["events_per_s"]) for name, stage in stages.items()}
    if "edge" in rates and "scoring" in rates:
        edge, scoring = rates.pop("edge"), rates.pop("scoring")
        worker = 1 / (1 / edge + 1 / scoring) if edge > 0 and scoring > 0 else 0.0
        rates = {"worker": round(worker, 1), **rates}
    return rates


def comparison(stages: dict[str, dict[str, Any]], end_to_end: dict[str, Any]) -> dict[str, Any]:
    """End-to-end throughput against the slowest stage that runs on its own, and against
    Elasticsearch's bulk ingest alone."""
    rates = pipeline_stages(stages)
    name = min(rates, key=lambda s: rates[s])
    slowest = rates[name]
    e2e = float(end_to_end["events_per_s"])
    ratio = e2e / slowest if slowest > 0 else 0.0
    verdict: dict[str, Any] = {
        "slowest_stage": name,
        "slowest_events_per_s": slowest,
        "end_to_end_over_slowest": round(ratio, 3),
        "required": REQUIRED_RATIO,
        "meets_required": ratio >= REQUIRED_RATIO,
    }
    search = rates.get("elasticsearch")
    if search:
        verdict["end_to_end_over_elasticsearch"] = round(e2e / search, 3)
    return verdict


QUIET_CPU_SHARE = 0.9  # below this, stage (a) shared its core with something else


def interference(
    pids_before: Mapping[str, int | None],
    pids_after: Mapping[str, int | None],
    *,
    model_cpu_share: float | None,
) -> dict[str, Any]:
    """Signs that something else disturbed the run: a server restarted meanwhile (another
    process stopped it), or stage (a) did not get its core to itself."""
    restarted = sorted(name for name, pid in pids_before.items() if pids_after.get(name) != pid)
    busy = model_cpu_share is not None and model_cpu_share < QUIET_CPU_SHARE
    return {
        "servers_restarted": restarted,
        "model_stage_cpu_share": model_cpu_share,
        "quiet": not restarted and not busy,
    }


def build_report(
    *,
    stages: dict[str, dict[str, Any]],
    end_to_end: dict[str, Any],
    machine: dict[str, Any],
    events: dict[str, Any],
    config: dict[str, Any],
    started_at: datetime,
    duration_s: float,
    disturbed: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON document (``stages``, ``end_to_end`` and ``machine`` as the issue asks)."""
    return {
        "stages": stages,
        "end_to_end": end_to_end,
        "comparison": comparison(stages, end_to_end),
        "interference": disturbed or {"quiet": True},
        "machine": machine,
        "events": events,
        "config": config,
        "started_at": started_at.isoformat(),
        "duration_s": round(duration_s, 1),
    }


def report_path(out: Path, started_at: datetime) -> Path:
    """``out/<UTC timestamp>.json``, e.g. ``20261125T085353Z.json``."""
    return out / f"{started_at:%Y%m%dT%H%M%SZ}.json"


def write_report(report: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    return path


def _latency(run: dict[str, Any]) -> str:
    ms = run["latency_ms"]
    return f"{ms['p50']:,.0f} / {ms['p95']:,.0f} / {ms['p99']:,.0f} ms"


def render_table(report: dict[str, Any]) -> Table:
    """The figures as a table, ending with end to end over the slowest stage."""
    machine = report["machine"]
    facts = [
        f"{machine['cores']} cores" if machine.get("cores") else None,
        machine.get("cpu_model"),
        f"{machine['ram_gb']} GB RAM" if machine.get("ram_gb") else None,
        f"Kafka {machine['kafka_version']}" if machine.get("kafka_version") else None,
        f"Elasticsearch {machine['elasticsearch_version']}"
        if machine.get("elasticsearch_version")
        else None,
    ]
    table = Table(
        title="crmstream bench",
        title_justify="left",
        caption=", ".join(f for f in facts if f),
        caption_justify="left",
    )
    table.add_column("measure")
    table.add_column("figure", justify="right")
    table.add_column("detail")
    for name, stage in report["stages"].items():
        detail = f"{stage['events']:,} events in {stage['seconds']:,.1f}s"
        for key, unit in (
            ("ms_per_event", "event"),
            ("ms_per_communication", "communication"),
            ("ms_per_example", "example"),
        ):
            if stage.get(key) is not None:
                detail += f", {stage[key]:.3f} ms per {unit}"
        if stage.get("examples_per_s") is not None:
            detail += f" ({stage['examples_per_s']:,.0f} examples/s)"
        table.add_row(
            STAGE_LABELS.get(name, name), f"{stage['events_per_s']:,.0f} events/s", detail
        )
        if name == "scoring" and "edge" in report["stages"]:
            worker = pipeline_stages(report["stages"])["worker"]
            table.add_row(STAGE_LABELS["worker"], f"{worker:,.0f} events/s", "one core")
    e2e = report["end_to_end"]
    table.add_row(
        "(d) end to end, sustained",
        f"{e2e['events_per_s']:,.0f} events/s",
        f"{e2e['events']:,} events in {e2e['seconds']:,.1f}s, Kafka → worker → ES"
        + (", exactly once" if report["machine"].get("exactly_once") else ", at least once"),
    )
    for key, share in (("at_50", "50%"), ("at_90", "90%")):
        run = e2e["latency_runs"][key]
        table.add_row(
            f"latency at {share}: p50/p95/p99",
            _latency(run),
            f"{run['achieved_events_per_s']:,.0f} events/s for {run['production_s']:.0f}s, "
            f"{run['samples']} samples"
            + (f", {run['unseen_samples']} unseen" if run["unseen_samples"] else ""),
        )
    learner = e2e.get("learner")
    if learner:
        lag = learner.get("lag_at_end")
        caught = e2e.get("learner_caught_up_s")
        table.add_row(
            "learner during end to end",
            f"{learner['examples_per_s']:,.0f} examples/s",
            (f"lag {lag:,} training messages when all was indexed" if lag is not None else "")
            + (f", caught up {caught:.1f}s later" if caught is not None else ", never caught up"),
        )
    rss = e2e["rss_mb"]
    tenths = rss.get("mean_by_tenth") or []
    table.add_row(
        "worker RSS max",
        f"{e2e['rss_mb_max']:,.0f} MB",
        f"start {rss['start']:,.0f} MB → end {rss['end']:,.0f} MB ({rss['samples']} samples)"
        + (", by tenth " + " ".join(f"{m:,.0f}" for m in tenths) if tenths else ""),
    )
    disturbed = report.get("interference", {})
    if not disturbed.get("quiet", True):
        signs = []
        if disturbed.get("servers_restarted"):
            signs.append("restarted during the run: " + ", ".join(disturbed["servers_restarted"]))
        if disturbed.get("model_stage_cpu_share") is not None:
            signs.append(f"(a) had {disturbed['model_stage_cpu_share']:.0%} of a core")
        table.add_row("[yellow]disturbed run[/yellow]", "figures unreliable", "; ".join(signs))
    verdict = report["comparison"]
    if verdict.get("end_to_end_over_elasticsearch") is not None:
        table.add_row(
            "end to end / Elasticsearch bulk",
            f"{verdict['end_to_end_over_elasticsearch']:.2f}",
            "",
        )
    meets = verdict["meets_required"]
    table.add_row(
        f"end to end / slowest stage ({verdict['slowest_stage']})",
        f"{verdict['end_to_end_over_slowest']:.2f}",
        ("[green]meets[/green]" if meets else "[red]below[/red]")
        + f" the required {verdict['required']}",
    )
    return table
