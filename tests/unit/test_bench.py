"""The benchmark's pure parts: events, statistics, documents, the model stage and the report."""

from __future__ import annotations

import asyncio
import csv
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console

from bench.end_to_end import LatencyRun, load_average, tree_cpu_seconds, tree_rss_bytes
from bench.events import (
    BenchEvent,
    airline_events,
    build_event_set,
    interleave,
    repeated,
    resolve_dataset,
)
from bench.namespace import bench_settings, clean_up
from bench.report import (
    build_report,
    comparison,
    cpu_model,
    git_commit,
    interference,
    ram_gb,
    render_table,
    report_path,
)
from bench.stages import PARTS, ModelStage, StageResult, batches, model_stage
from bench.stats import (
    due,
    latency_summary,
    paced_count,
    percentile,
    rates_by_tenth,
    sampled,
    series_summary,
)
from config.settings import Settings
from crmstream.generator import EventGenerator
from crmstream.infra.worker import metric_value
from streams.pipeline import Accepted, BatchResult, Incoming
from streams.redaction import Redactor
from streams.search_index import IndexRequest

NOW = datetime(2026, 11, 1, tzinfo=UTC)
TWEET_COLUMNS = ["tweet_id", "airline_sentiment", "negativereason", "airline", "text"]
TWEET_COLUMNS += ["tweet_created"]


def write_tweets(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(TWEET_COLUMNS)
        writer.writerows(rows)
    return path


@pytest.fixture
def tweets(tmp_path: Path) -> Path:
    return write_tweets(
        tmp_path / "Tweets.csv",
        [
            ["1", "negative", "Late Flight", "United", "@united 3 hours late", "2/24/2015 11:35"],
            ["2", "positive", "", "Delta", "@delta thanks, great crew", "2/23/2015 09:00"],
            ["1", "negative", "Late Flight", "United", "@united 3 hours late", "2/24/2015 11:35"],
            ["3", "neutral", "", "Virgin America", "@VirginAmerica what?", "2/24/2015 08:10"],
        ],
    )


# -- statistics -----------------------------------------------------------------------


def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 100.0
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([7.0], 95) == 7.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0  # order does not matter
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="q must be"):
        percentile([1.0], 101)


def test_latency_summary_is_in_milliseconds_with_the_required_keys() -> None:
    summary = latency_summary([0.1] * 98 + [1.0, 2.0])
    assert list(summary) == ["p50", "p95", "p99"]
    assert summary["p50"] == 100.0
    assert summary["p95"] == 100.0
    assert 1000.0 < summary["p99"] < 2000.0


def test_pacing_sends_message_i_at_i_over_rate() -> None:
    assert due(0.0, rate=10.0, total=100) == 1  # the first message goes at once
    assert due(0.099, rate=10.0, total=100) == 1
    assert due(0.1, rate=10.0, total=100) == 2
    assert due(2.55, rate=10.0, total=100) == 26
    assert due(1e6, rate=10.0, total=100) == 100  # never more than the run holds
    assert due(-1.0, rate=10.0, total=100) == 1
    with pytest.raises(ValueError, match="positive"):
        due(1.0, rate=0.0, total=1)
    assert paced_count(450.0, 30.0) == 13_500
    assert paced_count(0.01, 1.0) == 1


def test_one_communication_in_twenty_is_sampled() -> None:
    picked = [i for i in range(100) if sampled(i)]
    assert picked == [0, 20, 40, 60, 80]
    assert [i for i in range(10) if sampled(i, every=5)] == [0, 5]


def test_rates_by_tenth_show_a_run_slowing_down() -> None:
    # 1000 events: the first half at 100/s, the second at 50/s, observed every 100 events.
    points = [(i * 1.0, i * 100) for i in range(1, 6)]
    points += [(5.0 + i * 2.0, 500 + i * 100) for i in range(1, 6)]
    assert rates_by_tenth(points) == [100.0] * 5 + [50.0] * 5
    assert rates_by_tenth(points, parts=2) == [100.0, 50.0]
    coarse = [(0.0, 0), (3.0, 300), (10.0, 1000)]  # fewer points than tenths
    assert rates_by_tenth(coarse) == [100.0, 100.0]
    assert rates_by_tenth([]) == []
    assert rates_by_tenth([(1.0, 0)]) == []


def test_series_summary() -> None:
    assert series_summary([100.0, 250.55, 180.0]) == {
        "start": 100.0,
        "end": 180.0,
        "max": 250.6,
        "mean": 176.8,
        "samples": 3,
        "mean_by_tenth": [100.0, 250.6, 180.0],
    }
    assert series_summary([])["samples"] == 0
    # A memory that levels off: the last tenths are as high as the middle ones, no higher.
    levelled = [100.0 + min(i, 50) for i in range(200)]
    tenths = series_summary(levelled)["mean_by_tenth"]
    assert len(tenths) == 10 and tenths[-1] == tenths[-5] == 150.0 and tenths[0] < 150.0


# -- events ---------------------------------------------------------------------------


def test_interleave_spreads_both_sequences_and_keeps_their_order() -> None:
    merged = interleave(list("abcd"), [1, 2])
    assert merged == ["a", 1, "b", "c", 2, "d"]
    assert interleave([], [1, 2]) == [1, 2]
    assert interleave(["a"], []) == ["a"]
    long = interleave(list(range(100)), [f"g{i}" for i in range(100)])
    assert all(isinstance(long[i], int) != isinstance(long[i + 1], int) for i in range(0, 199))


def test_bench_event_encodes_like_the_producers_and_renames() -> None:
    value = {"event_id": "e1", "customer_id": "cust-1", "text": "退款"}
    event = BenchEvent.of("communication", value)
    assert event.key == b"cust-1"
    assert orjson.loads(event.value) == value
    again = event.renamed("-r3")
    assert again.event_id == "e1-r3"
    assert orjson.loads(again.value) == {**value, "event_id": "e1-r3"}
    assert (again.kind, again.key) == (event.kind, event.key)
    assert BenchEvent.of("feedback", {"event_id": "f"}).key is None


def test_repeated_gives_fresh_ids_each_round() -> None:
    base = [BenchEvent.of("communication", {"event_id": f"e{i}"}) for i in range(3)]
    ids = [e.event_id for e in repeated(base, 8)]
    assert ids == ["e0", "e1", "e2", "e0-r1", "e1-r1", "e2-r1", "e0-r2", "e1-r2"]
    with pytest.raises(ValueError, match="no events"):
        list(repeated([], 1))


def test_airline_tweets_are_mapped_like_the_readme_replay(tweets: Path) -> None:
    events = airline_events(tweets)
    assert [e["event_id"] for e in events] == ["2", "3", "1"]  # time order, duplicate once
    first = events[2]
    assert first["channel"] == "social" and first["direction"] == "inbound"
    assert first["customer_id"] == "United" and first["need"] == "Late Flight"
    assert first["occurred_at"] == "2015-02-24T11:35:00-08:00"
    assert first["metadata"] == {"airline_sentiment": "negative"}
    assert "need" not in events[0]  # an empty reason is no label


def test_event_set_mixes_tweets_and_generated_events(tweets: Path) -> None:
    event_set = build_event_set(20, tweets, now=NOW)
    events = event_set.events
    assert len(events) == 20
    assert len({e.event_id for e in events}) == 20
    assert event_set.airline == 3 and event_set.generated == 3 and event_set.rounds == 4
    tweet_ids = {"1", "2", "3"}
    assert [e.event_id in tweet_ids for e in events[:6]] == [True, False] * 3
    assert events[6].event_id == events[0].event_id + "-r1"
    described = event_set.describe()
    assert described["total"] == 20
    assert described["communications"] + described["feedback"] == 20
    assert described["dataset"] == str(tweets)


def test_event_set_without_dataset_uses_the_generator_with_feedback() -> None:
    event_set = build_event_set(3000, None, now=NOW)
    kinds = {e.kind for e in event_set.events}
    assert kinds == {"communication", "feedback"}
    assert event_set.airline == 0 and event_set.rounds == 1
    stamps = [orjson.loads(e.value)["occurred_at"] for e in event_set.events]
    assert max(stamps) < NOW.isoformat()  # nothing the edge would call future


def test_resolve_dataset(tmp_path: Path, tweets: Path) -> None:
    assert resolve_dataset(tmp_path) == tweets
    assert resolve_dataset(tweets) == tweets
    assert resolve_dataset(tmp_path / "missing") is None
    assert resolve_dataset(None) is None
    other = tmp_path / "other"
    other.mkdir()
    assert resolve_dataset(other) is None
    write_tweets(other / "export.csv", [])
    assert resolve_dataset(other) == other / "export.csv"


# -- documents and the model stage ----------------------------------------------------


def test_model_stage_documents_are_what_the_communication_sink_indexes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from streams import sinks

    settings = Settings(namespace="benchtest", batch_max_events=100)
    events = [BenchEvent.of(e.kind, e.value) for e in EventGenerator(3).events(60)]
    (batch,) = batches(events, settings.batch_max_events)
    scored, dead = ModelStage(settings).process(batch, datetime.now(UTC))
    assert scored and not dead
    captured: list[IndexRequest] = []

    async def fake_bulk(_: object, requests: Sequence[IndexRequest]) -> list[object]:
        captured.extend(requests)
        return []

    class Publisher:
        async def publish(self, topic: str, records: Sequence[object]) -> None:
            return None

    monkeypatch.setattr(sinks, "bulk_index", fake_bulk)
    sink = sinks.CommunicationSink(settings, None, Publisher(), Redactor())  # type: ignore[arg-type]
    message = Incoming(b"", b"", "crm.communications", 0, 0)
    result = BatchResult(accepted=[Accepted(message, record) for record in scored])
    asyncio.run(sink.deliver(result, now=datetime.now(UTC)))
    (documents,) = model_stage(settings, events).documents

    def unstamped(requests: Sequence[IndexRequest]) -> list[IndexRequest]:
        # processed_at is each run's own clock; everything else must be equal.
        return [
            IndexRequest(
                r.index, r.id, {k: v for k, v in r.document.items() if k != "processed_at"}
            )
            for r in requests
        ]

    assert unstamped(documents) == unstamped(captured)
    assert all("processed_at" in r.document for r in documents)
    assert documents[0].index.startswith("benchtest-crm-communications-")
    assert "text_terms" in documents[0].document


def test_model_stage_scores_learns_and_names_dead_letters() -> None:
    settings = Settings(batch_max_events=50)
    generated = [BenchEvent.of(e.kind, e.value) for e in EventGenerator(5).events(120)]
    broken = BenchEvent("communication", "bad", None, b"{not json")
    events = [*generated[:60], broken, *generated[60:]]
    stage = ModelStage(settings)
    scored, dead = [], []
    for batch in batches(events, settings.batch_max_events):
        records, dead_here = stage.process(batch, datetime.now(UTC))
        scored += records
        dead += dead_here
    communications = sum(1 for e in generated if e.kind == "communication")
    assert dead == [60]  # its position in the event set
    assert len(scored) == communications
    assert all(r.satisfaction is not None and r.model_versions for r in scored)
    assert stage.examples == len(generated)  # one training example per valid event
    assert stage.bundle.version == 6  # one training message per batch and kind
    assert [len(b) for b in batches(events, 50)] == [50, 50, 21]
    assert all(stage.times.wall[part] > 0 for part in PARTS)  # each part timed on its own


def test_model_stage_reports_edge_scoring_and_learning() -> None:
    settings = Settings(batch_max_events=40)
    events = [BenchEvent.of(e.kind, e.value) for e in EventGenerator(6).events(100)]
    output = model_stage(settings, events)
    assert set(output.parts) == set(PARTS)
    assert all(p.count == 100 and p.seconds > 0 for p in output.parts.values())
    learning = output.parts["learning"].extra
    assert learning["examples"] == 100 and learning["examples_per_s"] > 0
    scoring = output.parts["scoring"].extra
    assert scoring["communications_scored"] == sum(len(d) for d in output.documents)
    worker = output.worker_path
    assert worker.seconds == output.parts["edge"].seconds + output.parts["scoring"].seconds


def test_stage_result_rate() -> None:
    result = StageResult(1000, 2.0, {"rejected": 0})
    assert result.events_per_s == 500.0
    assert result.as_dict() == {
        "events_per_s": 500.0,
        "events": 1000,
        "seconds": 2.0,
        "rejected": 0,
    }
    assert StageResult(5, 0.0).events_per_s == 0.0


# -- report ---------------------------------------------------------------------------


def test_machine_facts_are_read_from_proc_texts() -> None:
    assert cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n") == "AMD EPYC 7B13"
    assert cpu_model("processor : 0\n") is None
    assert ram_gb("MemTotal:       24576000 kB\nMemFree: 1 kB\n") == 23.4
    assert ram_gb("") is None


def test_git_commit_is_read_without_git(tmp_path: Path) -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    git = tmp_path / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    assert git_commit(tmp_path) is None
    (git / "packed-refs").write_text(f"# pack-refs\n{sha} refs/heads/main\n")
    assert git_commit(tmp_path) == sha
    (git / "refs" / "heads" / "main").write_text(sha.replace("0", "f") + "\n")
    assert git_commit(tmp_path) == sha.replace("0", "f")
    (git / "HEAD").write_text(sha + "\n")  # detached
    assert git_commit(tmp_path) == sha
    assert git_commit(tmp_path / "nowhere") is None


def latency_run(rate: float, seconds: Sequence[float]) -> dict[str, Any]:
    return LatencyRun(rate, int(rate * 10), 10.0, list(seconds)).as_dict()


def sample_report() -> dict[str, Any]:
    at_50 = latency_run(200.0, [0.5, 0.6, 0.9])
    at_90 = latency_run(360.0, [0.7, 1.1, 2.5])
    return build_report(
        stages={
            "edge": StageResult(200_000, 200.0).as_dict(),
            "scoring": StageResult(200_000, 200.0).as_dict(),
            "learning": StageResult(200_000, 100.0, {"examples_per_s": 2000.0}).as_dict(),
            "elasticsearch": StageResult(170_000, 34.0).as_dict(),
            "kafka": StageResult(200_000, 8.0).as_dict(),
        },
        end_to_end={
            "events_per_s": 400.0,
            "latency_ms": at_50["latency_ms"],
            "latency_ms_at_90": at_90["latency_ms"],
            "rss_mb_max": 812.3,
            "events": 200_000,
            "seconds": 500.0,
            "latency_runs": {"at_50": at_50, "at_90": at_90},
            "rss_mb": series_summary([300.0, 812.3, 700.0]),
            "learner": {"examples": 200_000, "examples_per_s": 400.0, "lag_at_end": 120},
            "learner_caught_up_s": 3.5,
        },
        machine={"cores": 2},
        events={"total": 200_000},
        config={"batch_max_events": 500},
        started_at=datetime(2026, 11, 25, 9, 0, 1, tzinfo=UTC),
        duration_s=1234.56,
    )


def test_report_has_the_shape_the_issue_asks_for() -> None:
    report = sample_report()
    assert set(report["stages"]) == {"edge", "scoring", "learning", "elasticsearch", "kafka"}
    assert all(s["events_per_s"] > 0 for s in report["stages"].values())
    e2e = report["end_to_end"]
    assert set(e2e["latency_ms"]) == {"p50", "p95", "p99"}
    assert set(e2e["latency_ms_at_90"]) == {"p50", "p95", "p99"}
    assert e2e["latency_ms"]["p50"] == 600.0
    assert report["comparison"] == {
        "slowest_stage": "worker",  # edge and scoring, 1,000 events/s each, on one core
        "slowest_events_per_s": 500.0,
        "end_to_end_over_slowest": 0.8,
        "required": 0.8,
        "meets_required": True,
        "end_to_end_over_elasticsearch": 0.08,
    }
    assert report["machine"] == {"cores": 2}
    orjson.dumps(report)  # JSON all the way down


def test_interference_names_restarted_servers_and_a_busy_core() -> None:
    pids = {"kafka": 10, "elasticsearch": 20}
    assert interference(pids, dict(pids), model_cpu_share=0.98)["quiet"] is True
    restarted = interference(pids, {"kafka": 11, "elasticsearch": 20}, model_cpu_share=0.98)
    assert restarted["servers_restarted"] == ["kafka"] and not restarted["quiet"]
    assert not interference(pids, pids, model_cpu_share=0.6)["quiet"]
    report = sample_report()
    report["interference"] = restarted
    console = Console(record=True, width=200)
    console.print(render_table(report))
    assert "restarted during the run: kafka" in console.export_text()


def test_comparison_below_the_required_ratio() -> None:
    verdict = comparison(
        {"learning": {"events_per_s": 1000.0}, "kafka": {"events_per_s": 50_000.0}},
        {"events_per_s": 300.0},
    )
    assert verdict["slowest_stage"] == "learning"
    assert verdict["end_to_end_over_slowest"] == 0.3 and not verdict["meets_required"]
    assert "end_to_end_over_elasticsearch" not in verdict


def test_report_file_is_named_after_the_utc_start() -> None:
    at = datetime(2026, 11, 25, 9, 0, 1, tzinfo=UTC)
    assert report_path(Path("out"), at) == Path("out/20261125T090001Z.json")


def test_table_prints_every_figure_and_the_ratio() -> None:
    console = Console(record=True, width=200)
    console.print(render_table(sample_report()))
    text = console.export_text()
    for expected in (
        "1,000 events/s",  # edge, scoring
        "2,000 events/s",  # learning
        "500 events/s",  # worker path
        "5,000 events/s",  # elasticsearch
        "25,000 events/s",  # kafka
        "400 events/s",  # end to end
        "600 / 870 / 894 ms",  # latency at 50%
        "1,100 / 2,360 / 2,472 ms",  # latency at 90%
        "812 MB",
        "0.80",
        "meets the required 0.8",
        "400 examples/s",
        "lag 120 training messages",
    ):
        assert expected in text, (expected, text)
    assert re.search(r"end to end / slowest stage \(worker\)", text)


# -- namespace and memory -------------------------------------------------------------


def test_bench_settings_get_their_own_valid_namespace() -> None:
    base = Settings(namespace="", batch_max_events=123)
    settings = bench_settings(base)
    assert re.fullmatch(r"bench[0-9a-f]{8}", settings.namespace)
    assert settings.batch_max_events == 123 and settings.worker_web_port > 0
    assert bench_settings(base).namespace != settings.namespace
    Settings(namespace=settings.namespace)  # valid for the worker's environment too


def test_clean_up_refuses_other_namespaces() -> None:
    with pytest.raises(ValueError, match="refusing"):
        clean_up(Settings(namespace="prod"))


def test_metric_values_are_read_from_the_worker_page() -> None:
    page = "\n".join(
        [
            "# HELP crmstream_documents_indexed_total Documents Elasticsearch acknowledged",
            "# TYPE crmstream_documents_indexed_total counter",
            'crmstream_documents_indexed_total{index_alias="crm-communications"} 1234.0',
            'crmstream_documents_indexed_created{index_alias="crm-communications"} 1.7e9',
            'crmstream_model_version{model="bundle",role="scorer"} 900.0',
            'crmstream_model_version{model="bundle",role="learner"} 1000.0',
            'crmstream_model_version{model="need",role="learner"} 10.0',
            'crmstream_dead_letters_total{reason="not json"} 2.0',
            'crmstream_dead_letters_total{reason="schema"} 1.0',
        ]
    )
    assert metric_value(page, "crmstream_documents_indexed_total") == 1234.0
    assert metric_value(page, "crmstream_model_version", role="learner", model="bundle") == 1000.0
    assert metric_value(page, "crmstream_dead_letters_total") == 3.0
    assert metric_value(page, "crmstream_dead_letters") is None
    assert metric_value("", "crmstream_documents_indexed_total") is None


def test_cpu_seconds_of_this_process_tree() -> None:
    before = tree_cpu_seconds(os.getpid())
    sum(i * i for i in range(2_000_000))
    assert tree_cpu_seconds(os.getpid()) > before >= 0
    assert tree_cpu_seconds(2**22 + 12345) == 0


def test_rss_of_this_process_tree() -> None:
    assert tree_rss_bytes(os.getpid()) > 10 * 2**20
    assert tree_rss_bytes(2**22 + 12345) == 0  # no such process


def _proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one process as /proc has them (what the bench read before psutil)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def test_the_tree_measures_include_children_with_the_numbers_proc_gives() -> None:
    # A child that burns 0.25 s of CPU (however long that takes on a busy machine), says
    # so, then waits on its stdin, its counters standing still, so it can be measured.
    busy = (
        "import sys, time\nwhile time.process_time() < 0.25: pass\n"
        "print('done', flush=True)\nsys.stdin.read()"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", busy], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == b"done\n"
        # Equal, but for a clock tick the child may spend going back to its read.
        assert tree_cpu_seconds(child.pid) == pytest.approx(_proc_cpu_seconds(child.pid), abs=0.011)
        assert tree_rss_bytes(child.pid) == _proc_rss_bytes(child.pid)
        assert tree_cpu_seconds(os.getpid()) >= tree_cpu_seconds(child.pid) > 0.15
        # This process alone leaves the child's 0.25 s out.
        own = tree_cpu_seconds(os.getpid(), own=True)
        assert own == pytest.approx(_proc_cpu_seconds(os.getpid()), abs=0.05)
        assert own < tree_cpu_seconds(os.getpid()) - 0.15
        assert tree_rss_bytes(os.getpid()) > tree_rss_bytes(child.pid)
    finally:
        child.communicate(b"")


def test_the_load_average_is_the_machines() -> None:
    load = load_average()
    assert load is not None and load == pytest.approx(os.getloadavg()[0], abs=0.5)
