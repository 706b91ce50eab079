"""The learner runs as the worker's child process: restarted when it dies, never left behind."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from config.settings import Settings
from crmstream.cluster import training_end_offset
from crmstream.generator import EventGenerator
from crmstream.infra import WorkerProcess
from streams.learner import latest_snapshot
from tests.conftest import start_scoped_worker
from tests.integration.support import send_events, wait_until


def gone(pid: int) -> bool:
    """The process has exited (a zombie nobody reaped yet counts as exited)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return any(line.split() == ["State:", "Z", "(zombie)"] for line in status)
    except FileNotFoundError:
        return True


def learner_serving(worker: WorkerProcess) -> int | None:
    """The learner child's pid once it answers on its metrics port."""
    pid = worker.learner_pid
    return pid if pid is not None and worker.metrics(learner=True) is not None else None


def test_the_learner_is_restarted_and_never_outlives_its_worker(
    scoped: Settings, tmp_path: Path
) -> None:
    worker = start_scoped_worker(scoped, tmp_path / "worker.log")
    try:
        first = wait_until(lambda: learner_serving(worker), what="the learner child")
        assert worker.process is not None and first != worker.process.pid
        worker_pid = worker.process.pid

        assert first is not None
        os.kill(first, signal.SIGKILL)
        second = wait_until(
            lambda: (pid := learner_serving(worker)) not in (None, first) and pid,
            what="a new learner after the first was killed",
        )
        assert worker.alive  # the worker itself carried on

        # The worker alone is killed (as an out-of-memory kill would): its learner follows.
        os.kill(worker_pid, signal.SIGKILL)
        wait_until(lambda: gone(second), timeout_s=30, what="the orphaned learner to exit")
    finally:
        worker.kill()


def test_a_clean_stop_publishes_what_the_learner_learned(scoped: Settings, tmp_path: Path) -> None:
    # No periodic snapshot during the test: only the one taken when the worker stops.
    worker = start_scoped_worker(
        scoped, tmp_path / "worker.log", CRMSTREAM_MODEL_SNAPSHOT_INTERVAL_S="3600"
    )
    try:
        sent = send_events(scoped, EventGenerator(5, label_share=1.0).events(300))
        # One training example per event, packed a worker batch to a message.
        wait_until(
            lambda: worker.learner_metric("crmstream_training_learned_total") == sent,
            what="the learner to learn every event's training example",
        )
        messages = asyncio.run(training_end_offset(scoped))
        assert 0 < messages < sent
        assert asyncio.run(latest_snapshot(scoped)) is None
        learner = worker.learner_pid
        assert learner is not None
    finally:
        code = worker.stop()
    assert code == 0
    snapshot = asyncio.run(latest_snapshot(scoped))
    assert snapshot is not None and snapshot.version == messages  # the next offset to learn
    assert snapshot.need.version > 0  # it holds what was learned, not an empty bundle
    # The worker waited for its learner: it is gone now, not merely on its way out.
    assert gone(learner), "the learner outlived a cleanly stopped worker"
