"""Faults: the worker killed mid-replay, the broker restarted mid-stream, a long replay.

Nothing may be lost or doubled: every communication ends up indexed exactly
once (its event id is the document id, in the index of its own month) and is on
the scored topic, whatever was interrupted. These tests kill processes and
restart the shared Kafka broker, so they run their own namespace and workers.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiokafka.errors import KafkaError
from elasticsearch.helpers import scan
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_fixed

from config.settings import Settings
from crmstream.generator import EventGenerator, GeneratedEvent
from crmstream.infra import LocalServer, WorkerProcess
from crmstream.infra.servers import KafkaServer
from crmstream.produce import encode_events, produce
from streams.search_index import COMMUNICATIONS_ALIAS, create_client
from streams.topics import COMMUNICATIONS, FEEDBACK, SCORED
from tests.conftest import start_scoped_worker
from tests.integration.support import consumer_lag, read_topic, wait_until

pytestmark = pytest.mark.faults


def communication_ids(events: list[GeneratedEvent]) -> set[str]:
    return {e.value["event_id"] for e in events if e.kind == "communication"}


def indexed_ids(settings: Settings) -> Counter[str]:
    """How many documents each event id has in the communications alias."""
    client = create_client(settings)
    try:
        alias = settings.index_name(COMMUNICATIONS_ALIAS)
        client.indices.refresh(index=alias)
        hits = scan(client, index=alias, query={"_source": ["event_id"]}, size=5000)
        return Counter(hit["_source"]["event_id"] for hit in hits)
    finally:
        client.close()


def assert_nothing_lost_or_doubled(settings: Settings, expected: set[str]) -> None:
    wait_until(
        lambda: consumer_lag(settings, COMMUNICATIONS, FEEDBACK) == 0,
        timeout_s=900,
        what="the worker catching up",
    )
    counts = indexed_ids(settings)
    assert set(counts) == expected, f"{len(expected - set(counts))} missing"
    doubled = [event_id for event_id, n in counts.items() if n != 1]
    assert doubled == [], f"{len(doubled)} indexed more than once"
    scored = {record["event_id"] for record in read_topic(settings, SCORED, idle_s=3.0)}
    assert expected <= scored, f"{len(expected - scored)} not on the scored topic"


@retry(retry=retry_if_exception_type(KafkaError), wait=wait_fixed(2), stop=stop_after_attempt(60))
def send_chunk(settings: Settings, chunk: list[GeneratedEvent], rate: float) -> None:
    # A chunk that failed while the broker was away is sent again: ids make it idempotent.
    asyncio.run(produce(settings, encode_events(settings, chunk), rate=rate))


def send_in_background(
    settings: Settings, events: list[GeneratedEvent], rate: float
) -> threading.Thread:
    def run() -> None:
        for start in range(0, len(events), 1000):
            send_chunk(settings, events[start : start + 1000], rate)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return tmp_path


@contextmanager
def killed_three_times(
    scoped: Settings,
    logs: Path,
    events: list[GeneratedEvent],
    seed: int,
    pause_s: tuple[float, float],
    **env: str,
) -> Iterator[WorkerProcess]:
    """Replay ``events`` at 2,500/s while the worker is killed (-9) and replaced three
    times, at random moments ``pause_s`` apart; the last worker, once all was sent."""
    rng = random.Random(seed)
    worker = start_scoped_worker(scoped, logs / "worker-0.log", **env)
    try:
        sending = send_in_background(scoped, events, rate=2500)
        for kill in range(1, 4):
            time.sleep(rng.uniform(*pause_s))  # a random moment of the replay
            worker.kill()
            worker = start_scoped_worker(scoped, logs / f"worker-{kill}.log", **env)
        sending.join()
        yield worker
    finally:
        worker.stop()


def test_kill_9_three_times_during_a_50k_replay_loses_and_doubles_nothing(
    scoped: Settings, logs: Path
) -> None:
    events = list(EventGenerator(seed=7001).events(50_000))
    expected = communication_ids(events)
    with killed_three_times(scoped, logs, events, 7001, (4.0, 12.0)) as worker:
        assert_nothing_lost_or_doubled(scoped, expected)
        assert worker.alive


def test_kill_9_with_exactly_once_leaves_each_event_once_on_the_scored_topic(
    scoped: Settings, logs: Path
) -> None:
    # CRMSTREAM_EXACTLY_ONCE: scored records and dead letters in transactions with their
    # input offsets (streams.transactions). A consumer reading committed data finds every
    # event exactly once, however many batches the kills interrupted.
    events = list(EventGenerator(seed=7003).events(20_000))
    expected = communication_ids(events)
    eos = {"CRMSTREAM_EXACTLY_ONCE": "true"}
    with killed_three_times(scoped, logs, events, 7003, (3.0, 8.0), **eos) as worker:
        assert_nothing_lost_or_doubled(scoped, expected)
        records = read_topic(scoped, SCORED, isolation_level="read_committed")
        committed = Counter(record["event_id"] for record in records)
        assert set(committed) == expected, f"{len(expected - set(committed))} missing"
        doubled = [event_id for event_id, n in committed.items() if n != 1]
        sources = [(r["source"], r["processed_at"]) for r in records if r["event_id"] in doubled]
        assert doubled == [], f"{len(doubled)} event ids more than once: {sources[:6]}"
        assert worker.alive


def test_broker_restart_mid_stream_loses_nothing(
    scoped: Settings, logs: Path, local_servers: list[LocalServer]
) -> None:
    kafka = next(s for s in local_servers if isinstance(s, KafkaServer))
    events = list(EventGenerator(seed=7002).events(15_000))
    worker = start_scoped_worker(scoped, logs / "worker.log")
    try:
        sending = send_in_background(scoped, events, rate=1000)
        time.sleep(5)
        assert kafka.stop(timeout_s=60)
        time.sleep(10)
        kafka.start()
        sending.join()
        assert_nothing_lost_or_doubled(scoped, communication_ids(events))
        assert worker.alive, f"the worker died with the broker; see {worker.log_file}"
    finally:
        worker.stop()


def rss_mb(pid: int | None) -> float:
    """Resident memory of a process in MB (0 while there is none)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text() if pid is not None else ""
    except FileNotFoundError:
        return 0.0
    line = next((line for line in status.splitlines() if line.startswith("VmRSS:")), None)
    return int(line.split()[1]) / 1024 if line else 0.0


def sample_rss(worker: WorkerProcess, stop: threading.Event) -> Iterator[tuple[float, float]]:
    """Every second: the worker's RSS and its learner child's."""
    assert worker.process is not None
    while not stop.wait(1.0):
        yield rss_mb(worker.process.pid), rss_mb(worker.learner_pid)


def assert_flat(name: str, samples: list[float]) -> None:
    # Warm-up (models, caches, tables) is the first third; after it, no trend.
    third = len(samples) // 3
    assert third >= 10, f"too few samples ({len(samples)}) to judge"
    middle = statistics.median(samples[third : 2 * third])
    last = statistics.median(samples[2 * third :])
    print(f"{name} RSS MB: start {samples[0]:.0f}, middle {middle:.0f}, end {last:.0f}, "
          f"max {max(samples):.0f}")  # fmt: skip
    assert last <= middle * 1.10 + 20, f"{name} RSS grew from {middle:.0f} MB to {last:.0f} MB"


def settled_rss(samples: list[tuple[float, float]], since: int) -> tuple[float, float]:
    """Median worker and learner RSS over the samples taken since index ``since``."""
    tail = samples[since:]
    assert len(tail) >= 5, f"too few samples ({len(tail)}) to judge"
    return statistics.median(w for w, _ in tail), statistics.median(r for _, r in tail)


def test_memory_stays_flat_over_a_long_replay(scoped: Settings, logs: Path) -> None:
    """The same load twice: what the first round left is warm-up (models, caches, buffers
    filled by a backlog); a second round of as many events must not add to it."""
    events = list(EventGenerator(seed=7003).events(80_000))
    rounds = (events[:40_000], events[40_000:])
    worker = start_scoped_worker(scoped, logs / "worker.log")
    try:
        samples: list[tuple[float, float]] = []
        stop = threading.Event()
        sampler = threading.Thread(target=lambda: samples.extend(sample_rss(worker, stop)))
        sampler.start()
        settled: list[tuple[float, float]] = []
        for replay in rounds:
            send_in_background(scoped, replay, rate=2000).join()
            wait_until(
                lambda: consumer_lag(scoped, COMMUNICATIONS, FEEDBACK) == 0,
                timeout_s=900,
                what="the worker catching up",
            )
            settled_from = len(samples)
            time.sleep(10)
            settled.append(settled_rss(list(samples), settled_from))
        stop.set()
        sampler.join()
        (worker_1, learner_1), (worker_2, learner_2) = settled
        print(
            f"settled RSS MB after 40,000 and 80,000 events: worker {worker_1:.0f} -> "
            f"{worker_2:.0f}, learner {learner_1:.0f} -> {learner_2:.0f}; "
            f"max {max(w for w, _ in samples):.0f} / {max(r for _, r in samples):.0f}"
        )
        assert worker_2 <= worker_1 * 1.10 + 20, (
            f"worker RSS grew from {worker_1:.0f} MB to {worker_2:.0f} MB"
        )
        # The learner is a process of its own, started just after the worker answers;
        # from then on it must run throughout (a zero would be a restart).
        learner = list(itertools.dropwhile(lambda r: r == 0, (r for _, r in samples)))
        assert learner and all(r > 0 for r in learner), "the learner was not running throughout"
        assert learner_2 <= learner_1 * 1.10 + 20, (
            f"learner RSS grew from {learner_1:.0f} MB to {learner_2:.0f} MB"
        )
    finally:
        worker.stop()
