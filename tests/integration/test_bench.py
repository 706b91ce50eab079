"""``crmstream bench``, small, on real servers: the file, the figures, the table, the clean-up."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
from aiokafka.admin import AIOKafkaAdminClient

from config.settings import Settings
from crmstream.infra import LocalServer
from streams.kafka import client_options
from streams.search_index import create_client


def run_bench(out: Path) -> str:
    env = {**os.environ, "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "crmstream", "bench", "--out", str(out),
         "--events", "3000", "--latency-seconds", "5"],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


async def topics_of(settings: Settings, namespace: str) -> list[str]:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        return [t for t in await admin.list_topics() if t.startswith(f"{namespace}.")]
    finally:
        await admin.close()


def positive(value: Any) -> bool:
    return isinstance(value, int | float) and value > 0


def test_bench_writes_every_figure_prints_the_table_and_cleans_up(
    local_servers: list[LocalServer], tmp_path: Path
) -> None:
    # The bench makes (and deletes) its own namespace: no session namespace needed.
    settings = Settings()
    out = tmp_path / "results"
    printed = run_bench(out)

    (path,) = out.glob("*.json")
    report = orjson.loads(path.read_bytes())
    for stage in ("edge", "scoring", "learning", "elasticsearch", "kafka"):
        assert positive(report["stages"][stage]["events_per_s"]), stage
    assert report["stages"]["edge"]["events"] == 3000
    assert report["stages"]["edge"]["dead_letters"] == 0
    assert positive(report["stages"]["learning"]["examples_per_s"])
    assert report["stages"]["elasticsearch"]["rejected"] == 0
    assert report["stages"]["kafka"]["events"] == 3000
    e2e = report["end_to_end"]
    assert positive(e2e["events_per_s"]) and e2e["events"] == 3000
    for key in ("latency_ms", "latency_ms_at_90"):
        latency = e2e[key]
        assert set(latency) == {"p50", "p95", "p99"}
        assert all(positive(v) for v in latency.values()), latency
        assert latency["p50"] <= latency["p95"] <= latency["p99"]
    assert positive(e2e["rss_mb_max"])
    assert positive(e2e["learner"]["examples_per_s"]) and e2e["learner"]["lag_at_end"] >= 0
    assert e2e["learner_caught_up_s"] is not None
    runs = e2e["latency_runs"]
    assert runs["at_90"]["target_events_per_s"] > runs["at_50"]["target_events_per_s"]
    assert all(run["unseen_samples"] == 0 for run in runs.values())
    machine = report["machine"]
    assert positive(machine["cores"]) and machine["python"] and machine["kafka_version"]
    assert report["comparison"]["slowest_stage"] in {*report["stages"], "worker"}
    assert report["events"]["communications"] + report["events"]["feedback"] == 3000

    for expected in (
        "crmstream bench",
        "(a) edge",
        "(a) scoring",
        "(a) learning",
        "(a) worker path",
        "learner during end to end",
        "(b) Elasticsearch",
        "(c) Kafka",
        "(d) end to end",
        "latency at 50%",
        "latency at 90%",
        "worker RSS max",
        "end to end / slowest stage",
        f"{report['comparison']['end_to_end_over_slowest']:.2f}",
        str(path),
    ):
        assert expected in printed, (expected, printed)

    # Nothing of the bench namespace is left behind.
    namespace = report["config"]["namespace"]
    assert namespace.startswith("bench")
    assert asyncio.run(topics_of(settings, namespace)) == []
    client = create_client(settings)
    try:
        assert not list(client.indices.get(index=f"{namespace}-*", expand_wildcards="all"))
        templates = client.options(ignore_status=404).indices.get_index_template(
            name=f"{namespace}-*"
        )
        assert not templates.body.get("index_templates")
    finally:
        client.close()
