"""Stage (d): real Kafka → worker → Elasticsearch.

A worker runs in the bench namespace (:class:`crmstream.infra.WorkerProcess`).
After a warm-up, every event is produced as fast as possible and the clock
stops when the worker has indexed every communication (its
``crmstream_documents_indexed_total``): that is the sustained rate. Then
production is paced at 50% and at 90% of that rate; one communication in 20 is
timed from its send to the moment a search finds it (polled every 50 ms). The
worker's memory (RSS, children included, read with psutil) is sampled every 0.5 s throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from aiokafka import AIOKafkaProducer
from elasticsearch import AsyncElasticsearch
from rich.progress import Progress, TaskID

from bench.events import BenchEvent
from bench.stats import (
    due,
    latency_summary,
    paced_count,
    rate,
    rates_by_tenth,
    sampled,
    series_summary,
)
from config.settings import Settings
from crmstream.cluster import training_end_offset
from crmstream.infra.errors import InfraError
from crmstream.infra.worker import WorkerProcess, metric_value
from crmstream.produce import produce
from streams.kafka import client_options
from streams.search_index import COMMUNICATIONS_ALIAS, create_async_client
from streams.topics import COMMUNICATIONS, FEEDBACK

DOCUMENTS_METRIC = "crmstream_documents_indexed_total"
POLL_S = 0.05  # how often pending samples are searched for
POLL_INDEXED_S = 0.5  # how often the worker's indexed count is read
SAMPLE_EVERY = 20  # one communication in this many is timed
WARMUP_EVENTS = 400
STALL_S = 180.0  # no indexing progress for this long: the worker is stuck


# -- memory ---------------------------------------------------------------------------


def _process_tree(pid: int) -> list[psutil.Process]:
    """A process and its living descendants (empty when it is gone)."""
    try:
        process = psutil.Process(pid)
        return [process, *process.children(recursive=True)]
    except psutil.Error:
        return []


def tree_cpu_seconds(pid: int, *, own: bool = False) -> float:
    """CPU seconds (user + system) a process and its living descendants have used
    (``own``: the process alone)."""
    total = 0.0
    for member in _process_tree(pid)[:1] if own else _process_tree(pid):
        with contextlib.suppress(psutil.Error):  # a member may exit meanwhile
            times = member.cpu_times()
            total += times.user + times.system
    return total


def load_average() -> float | None:
    """The machine's 1-minute load average."""
    try:
        return float(psutil.getloadavg()[0])
    except OSError:
        return None


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants."""
    total = 0
    for member in _process_tree(pid):
        with contextlib.suppress(psutil.Error):  # a member may exit meanwhile
            total += int(member.memory_info().rss)
    return total


class RssSampler:
    """Samples a process tree's RSS (MB) every ``interval_s`` in a background thread."""

    def __init__(self, pid: int, interval_s: float = 0.5) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.samples_mb: list[float] = []
        self.load: list[float] = []  # the machine's 1-minute load average, same times
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = tree_rss_bytes(self.pid)
            if rss:
                self.samples_mb.append(rss / 2**20)
            load = load_average()
            if load is not None:
                self.load.append(load)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, Any]:
        return {**series_summary(self.samples_mb), "interval_s": self.interval_s}


# -- runs -----------------------------------------------------------------------------


@dataclass
class Sustained:
    """The sustained run: ``events`` in ``seconds``; the indexing rate over each tenth of
    the communications; the CPU seconds of the worker process and of its learner (its
    child) meanwhile."""

    events: int
    seconds: float
    indexed_per_s_by_tenth: list[float]
    worker_cpu_s: float
    learner_cpu_s: float
    learner: dict[str, Any] = field(default_factory=dict)


@dataclass
class LatencyRun:
    """One paced run: at ``rate`` events/s, ``sent`` events; latencies of the samples (s)."""

    rate: float
    sent: int
    production_s: float
    latencies: list[float] = field(default_factory=list)
    unseen: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "target_events_per_s": round(self.rate, 1),
            "achieved_events_per_s": round(rate(self.sent, self.production_s), 1),
            "events": self.sent,
            "production_s": round(self.production_s, 2),
            "samples": len(self.latencies),
            "unseen_samples": self.unseen,
            "latency_ms": latency_summary(self.latencies),
        }


class EndToEnd:
    """Drives the worker: warm-up, sustained throughput, paced latency runs."""

    def __init__(
        self,
        settings: Settings,
        worker: WorkerProcess,
        events: Sequence[BenchEvent],
        dead_positions: frozenset[int],
        progress: Progress,
    ) -> None:
        self.settings = settings
        self.worker = worker
        self.events = events
        self.dead = dead_positions
        self.progress = progress
        self.expected = 0  # communications the worker should have indexed by now
        self.samples: list[tuple[float, int]] = []  # (monotonic time, indexed) as polled
        self.alias = settings.index_name(COMMUNICATIONS_ALIAS)

    def topic(self, event: BenchEvent) -> str:
        base = COMMUNICATIONS if event.kind == "communication" else FEEDBACK
        return self.settings.topic_name(base)

    def indexable(self, position: int, event: BenchEvent) -> bool:
        """A communication the edge accepts (stage (a) saw which ones it dead-letters)."""
        return event.kind == "communication" and position not in self.dead

    async def metric(self, name: str, *, learner: bool = False, **labels: str) -> float | None:
        page = await asyncio.to_thread(self.worker.metrics, learner=learner)
        return metric_value(page, name, **labels)

    async def indexed(self) -> int:
        return int(await self.metric(DOCUMENTS_METRIC) or 0)

    async def wait_indexed(
        self,
        target: int,
        task: TaskID | None = None,
        sending: asyncio.Task[Any] | None = None,
        *,
        since: int = 0,
    ) -> float:
        """Wait until the worker indexed ``target`` documents; the monotonic time it did.

        ``task`` shows the documents indexed beyond ``since``.
        """
        last, last_change = -1, time.monotonic()
        while True:
            count = await self.indexed()
            now = time.monotonic()
            self.samples.append((now, count))
            if task is not None:
                self.progress.update(task, completed=max(0, min(count, target) - since))
            if count >= target:
                return now
            if count != last:
                last, last_change = count, now
            if not self.worker.alive:
                raise InfraError(f"the worker stopped; see {self.worker.log_file}")
            if sending is not None and sending.done() and sending.exception() is not None:
                raise InfraError(f"producing failed: {sending.exception()!r}")
            if now - last_change > STALL_S:
                raise InfraError(
                    f"the worker indexed nothing for {STALL_S:.0f}s ({count} of {target}); "
                    f"see {self.worker.log_file}"
                )
            await asyncio.sleep(POLL_INDEXED_S)

    async def warm_up(self) -> int:
        """A few hundred events through the whole path before anything is timed."""
        picked = [(p, e.renamed("-warm")) for p, e in enumerate(self.events[:WARMUP_EVENTS])]
        task = self.progress.add_task("e2e warm-up", total=len(picked))
        await produce(self.settings, [(self.topic(e), e.key, e.value) for _, e in picked])
        self.expected += sum(1 for p, e in picked if self.indexable(p, e))
        await self.wait_indexed(self.expected)
        self.progress.update(task, completed=len(picked))
        return len(picked)

    async def sustained(self) -> Sustained:
        """Every event as fast as possible, timed from the first send until all indexed."""
        communications = sum(1 for p, e in enumerate(self.events) if self.indexable(p, e))
        produced = self.progress.add_task("e2e produce", total=len(self.events))
        indexing = self.progress.add_task("e2e indexed", total=communications)
        messages = ((self.topic(e), e.key, e.value) for e in self.events)
        started = time.monotonic()
        sending = asyncio.create_task(
            produce(self.settings, messages, on_sent=lambda n: self.progress.advance(produced, n))
        )
        since, self.expected = self.expected, self.expected + communications
        self.samples = [(started, since)]
        pid = self.worker.process.pid if self.worker.process else 0
        cpu, own = tree_cpu_seconds(pid), tree_cpu_seconds(pid, own=True)
        learned = await self.learned()
        reached = await self.wait_indexed(self.expected, indexing, sending, since=since)
        learned = await self.learned() - learned
        lag = await self.learner_lag()
        cpu, own = tree_cpu_seconds(pid) - cpu, tree_cpu_seconds(pid, own=True) - own
        await sending
        points = [(at - started, min(n, self.expected) - since) for at, n in self.samples]
        learner = {
            "examples": int(learned),
            "examples_per_s": round(rate(int(learned), reached - started), 1),
            "lag_at_end": lag,
        }
        return Sustained(
            len(self.events), reached - started, rates_by_tenth(points), own, cpu - own, learner
        )

    async def learned(self) -> float:
        """Training examples the learner has learned so far (its counter)."""
        return await self.metric("crmstream_training_learned_total", learner=True) or 0.0

    async def learner_lag(self) -> int | None:
        """Training messages published but not yet learned (None: the learner says nothing)."""
        end = await training_end_offset(self.settings)
        position = await self.metric("crmstream_learner_position", learner=True)
        return None if position is None else max(0, end - int(position))

    async def learner_catch_up(self, timeout_s: float = 600.0) -> float | None:
        """Seconds until the learner has learned every training message (None: timed out)."""
        started = time.monotonic()
        end = await training_end_offset(self.settings)
        task = self.progress.add_task("learner", total=end)
        while time.monotonic() - started < timeout_s:
            position = await self.metric("crmstream_learner_position", learner=True)
            self.progress.update(task, completed=int(position or 0))
            if position is not None and position >= end:
                return time.monotonic() - started
            await asyncio.sleep(0.5)
        return None

    async def latency_run(self, target_rate: float, seconds: float, tag: str) -> LatencyRun:
        """Paced production at ``target_rate``; 1 communication in 20 timed until searchable."""
        total = paced_count(target_rate, seconds)
        picked = []
        for n in range(total):
            cycle, position = divmod(n, len(self.events))
            picked.append((position, self.events[position].renamed(f"-{tag}.{cycle}")))
        task = self.progress.add_task(f"latency {tag}", total=total)
        pending: dict[str, float] = {}
        latencies: list[float] = []
        producer = AIOKafkaProducer(
            **client_options(self.settings), acks="all", linger_ms=5, max_batch_size=256 * 1024
        )
        es = create_async_client(self.settings)
        await producer.start()
        stop = asyncio.Event()
        poller = asyncio.create_task(self._poll(es, pending, latencies, stop))
        try:
            futures = []
            sent = communications = 0
            started = time.monotonic()
            while sent < total:
                now_due = due(time.monotonic() - started, rate=target_rate, total=total)
                for position, event in picked[sent:now_due]:
                    at = time.monotonic()
                    futures.append(
                        await producer.send(self.topic(event), event.value, key=event.key)
                    )
                    if self.indexable(position, event):
                        if sampled(communications, SAMPLE_EVERY):
                            pending[event.event_id] = at
                        communications += 1
                    sent += 1
                self.progress.update(task, completed=sent)
                await asyncio.sleep(0.005)
            production_s = time.monotonic() - started
            await asyncio.gather(*futures)
            stop.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(poller), timeout=max(120.0, 4 * seconds))
            run = LatencyRun(target_rate, total, production_s, latencies, unseen=len(pending))
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            await producer.stop()
            await es.close()
        self.expected += communications
        await self.wait_indexed(self.expected)  # drained before the next run
        if not run.latencies:
            raise InfraError(f"no sampled event of the {tag} run became searchable")
        return run

    async def _poll(
        self,
        es: AsyncElasticsearch,
        pending: dict[str, float],
        latencies: list[float],
        stop: asyncio.Event,
    ) -> None:
        """Search for pending samples every 50 ms; a hit's latency is its response time
        minus its send time."""
        while not (stop.is_set() and not pending):
            if pending:
                ids = list(pending)[:1000]  # oldest first
                response = await es.search(
                    index=self.alias,
                    query={"terms": {"event_id": ids}},
                    source_includes=["event_id"],
                    size=len(ids),
                    ignore_unavailable=True,
                )
                found_at = time.monotonic()
                for hit in response["hits"]["hits"]:
                    sent_at = pending.pop(str(hit["_source"]["event_id"]), None)
                    if sent_at is not None:
                        latencies.append(found_at - sent_at)
            await asyncio.sleep(POLL_S)


@dataclass
class EndToEndResult:
    warmup_events: int
    sustained: Sustained
    learner_caught_up_s: float | None
    at_50: LatencyRun
    at_90: LatencyRun
    dead_letters: float
    rss: dict[str, Any] = field(default_factory=dict)
    load: dict[str, Any] = field(default_factory=dict)

    @property
    def events_per_s(self) -> float:
        return rate(self.sustained.events, self.sustained.seconds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "events_per_s": round(self.events_per_s, 1),
            "latency_ms": latency_summary(self.at_50.latencies),
            "latency_ms_at_90": latency_summary(self.at_90.latencies),
            "rss_mb_max": self.rss["max"],
            "events": self.sustained.events,
            "seconds": round(self.sustained.seconds, 3),
            "warmup_events": self.warmup_events,
            "indexed_per_s_by_tenth": self.sustained.indexed_per_s_by_tenth,
            # 1.0 = one core busy all the time (the worker is one Python process).
            "worker_cpu_share": round(self.sustained.worker_cpu_s / self.sustained.seconds, 3),
            # CPU per event depends far less on what else the machine runs than a rate.
            "worker_cpu_ms_per_event": round(
                1000 * self.sustained.worker_cpu_s / self.sustained.events, 4
            ),
            "learner": {
                **self.sustained.learner,
                "cpu_share": round(self.sustained.learner_cpu_s / self.sustained.seconds, 3),
            },
            "learner_caught_up_s": (
                None if self.learner_caught_up_s is None else round(self.learner_caught_up_s, 1)
            ),
            "latency_runs": {"at_50": self.at_50.as_dict(), "at_90": self.at_90.as_dict()},
            "rss_mb": self.rss,
            "loadavg_1m": self.load,
            "dead_letters": self.dead_letters,
        }


def worker_process(settings: Settings, log_file: Path) -> WorkerProcess:
    """A worker in the bench namespace (the rest of its settings from the environment)."""
    env = {
        "CRMSTREAM_NAMESPACE": settings.namespace,
        "CRMSTREAM_WORKER_WEB_PORT": str(settings.worker_web_port),
        "CRMSTREAM_WORKER_WEB_HOST": settings.worker_web_host,
        "CRMSTREAM_LEARNER_WEB_HOST": settings.learner_web_host,
    }
    return WorkerProcess(
        env,
        log_file,
        web_port=settings.worker_web_port,
        learner_port=settings.learner_web_port,
        web_host=settings.worker_web_host,
    )


def end_to_end(
    settings: Settings,
    events: Sequence[BenchEvent],
    dead_positions: frozenset[int],
    *,
    latency_seconds: float,
    log_file: Path,
    progress: Progress,
) -> EndToEndResult:
    """Start a worker, measure (d), stop the worker (its exit code must be 0)."""
    worker = worker_process(settings, log_file)
    starting = progress.add_task("e2e worker start", total=1)
    worker.start()
    progress.update(starting, completed=1)
    assert worker.process is not None
    try:
        with RssSampler(worker.process.pid) as rss:
            run = EndToEnd(settings, worker, events, dead_positions, progress)

            async def measure() -> EndToEndResult:
                warm = await run.warm_up()
                sustained = await run.sustained()
                caught_up = await run.learner_catch_up()
                sustained_rate = rate(sustained.events, sustained.seconds)
                at_50 = await run.latency_run(0.5 * sustained_rate, latency_seconds, "l50")
                at_90 = await run.latency_run(0.9 * sustained_rate, latency_seconds, "l90")
                dead = await run.metric("crmstream_dead_letters_total")
                return EndToEndResult(warm, sustained, caught_up, at_50, at_90, float(dead or 0))

            result = asyncio.run(measure())
    finally:
        code = worker.stop()
    result.rss = rss.summary()
    result.load = series_summary(rss.load)
    if code != 0:
        raise InfraError(f"the worker exited with {code}; see {log_file}")
    return result
