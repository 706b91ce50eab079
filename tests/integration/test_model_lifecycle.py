"""Online models on real Kafka: snapshots survive a kill -9, and workers agree on a version."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from config.settings import Settings
from crmstream.generator import EventGenerator, GeneratedEvent
from crmstream.infra import WorkerProcess
from streams.topics import SCORED
from tests.conftest import start_scoped_worker, worker_env
from tests.integration.support import read_topic, send_events, wait_until

SNAPSHOT_INTERVAL_S = 2.0
SYNC_POLL_S = 1.0


def start_worker(settings: Settings, log_dir: Path, name: str) -> WorkerProcess:
    return start_scoped_worker(
        settings,
        log_dir / f"{name}.log",
        CRMSTREAM_MODEL_SNAPSHOT_INTERVAL_S=str(SNAPSHOT_INTERVAL_S),
        CRMSTREAM_MODEL_SYNC_POLL_S=str(SYNC_POLL_S),
    )


def scorer_version(worker: WorkerProcess, model: str = "bundle") -> float:
    return worker.metric("crmstream_model_version", role="scorer", model=model) or 0.0


def labelled_events(seed: int, count: int) -> list[GeneratedEvent]:
    return list(EventGenerator(seed, label_share=1.0).events(count))


def test_a_killed_worker_resumes_from_its_snapshot(scoped: Settings, tmp_path: Path) -> None:
    worker = start_worker(scoped, tmp_path, "first")
    try:
        # The need's health scores the predictions the worker served: texts scored before
        # the first snapshot (by a model without any need) count as misses, so the bulk
        # of the labels comes once the worker scores with a trained snapshot.
        send_events(scoped, labelled_events(seed=11, count=200))
        wait_until(lambda: scorer_version(worker, "need") >= 30, what="a first snapshot")
        send_events(scoped, labelled_events(seed=13, count=600))
        # A snapshot with most of them (the bundle's version counts training messages,
        # a worker batch each; the need model's counts the labels it learned).
        version = wait_until(
            lambda: scorer_version(worker, "need") >= 250 and scorer_version(worker),
            what="a snapshot",
        )
        need_version = scorer_version(worker, "need")
        assert need_version > 50  # it learned needs from the labels
        accuracy = worker.metric("crmstream_model_quality", model="need", metric="accuracy")
        assert accuracy is not None and accuracy > 0.3
    finally:
        worker.kill()  # kill -9: no clean shutdown, no last snapshot

    restarted = start_worker(scoped, tmp_path, "second")
    try:
        # Before any new event: the restarted worker scores with the snapshot, not from zero.
        restored = wait_until(lambda: scorer_version(restarted), what="the restored model")
        assert restored >= version
        assert scorer_version(restarted, "need") >= need_version
        # ... and its progressive-validation record came back with it.
        restored_accuracy = restarted.metric(
            "crmstream_model_quality", model="need", metric="accuracy"
        )
        assert restored_accuracy is not None and restored_accuracy > 0.3

        send_events(scoped, labelled_events(seed=12, count=300))
        wait_until(lambda: scorer_version(restarted) > restored, what="learning to continue")
        assert scorer_version(restarted, "need") > need_version
        # The scored records carry the model versions they were scored with.
        wait_until(
            lambda: (
                max(r["model_versions"]["bundle"] for r in read_topic(scoped, SCORED)) >= restored
            ),
            what="records scored with the restored model",
        )
        assert all("need" in r["model_versions"] for r in read_topic(scoped, SCORED))
    finally:
        assert restarted.stop() == 0


def test_two_workers_score_with_the_same_model_version(scoped: Settings, tmp_path: Path) -> None:
    first = start_worker(scoped, tmp_path, "one")
    second = start_worker(scoped, tmp_path, "two")
    try:
        send_events(scoped, labelled_events(seed=21, count=800))
        wait_until(
            lambda: scorer_version(first) > 0 and scorer_version(second) > 0, what="both scoring"
        )

        # Once the stream pauses, both follow the learner's newest snapshot within the sync delay.
        def learner() -> float:
            return max(
                w.learner_metric("crmstream_model_version", role="learner", model="bundle") or 0.0
                for w in (first, second)
            )

        wait_until(
            lambda: learner() > 0 and scorer_version(first) == scorer_version(second) == learner(),
            timeout_s=SNAPSHOT_INTERVAL_S + SYNC_POLL_S + 60,
            what="both workers on the learner's newest version",
        )
        converged = scorer_version(first)
        # From now on neither worker may score with an older model, whichever partition it owns.
        probes = [e for e in labelled_events(seed=22, count=300) if e.kind == "communication"]
        send_events(scoped, probes)
        ids = {e.value["event_id"] for e in probes}
        wait_until(
            lambda: ids <= {r["event_id"] for r in read_topic(scoped, SCORED)}, what="probes scored"
        )
        used = [
            r["model_versions"]["bundle"]
            for r in read_topic(scoped, SCORED)
            if r["event_id"] in ids
        ]
        assert min(used) >= converged
    finally:
        assert first.stop() == 0
        assert second.stop() == 0


def test_bootstrap_publishes_a_warm_model_that_workers_pick_up(
    scoped: Settings, tmp_path: Path
) -> None:
    history = tmp_path / "history.csv"
    rows = [
        e.value
        for e in labelled_events(seed=31, count=1500)
        if e.kind == "communication" and e.value.get("need")
    ]
    with history.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["text", "need", "priority"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    env = {**os.environ, **worker_env(scoped)}
    result = subprocess.run(
        [sys.executable, "-m", "crmstream", "bootstrap", str(history), "--text-col", "text",
         "--need-col", "need", "--priority-col", "priority"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"need v{len(rows)}" in result.stdout

    worker = start_worker(scoped, tmp_path, "warm")
    try:
        wait_until(
            lambda: scorer_version(worker, "need") == len(rows), what="the bootstrapped model"
        )
        probe = next(e for e in labelled_events(seed=32, count=200) if e.kind == "communication")
        probe.value.pop("need", None)
        send_events(scoped, [probe])
        wait_until(
            lambda: any(
                r["event_id"] == probe.value["event_id"] for r in read_topic(scoped, SCORED)
            ),
            what="the probe scored",
        )
        (record,) = [
            r for r in read_topic(scoped, SCORED) if r["event_id"] == probe.value["event_id"]
        ]
        assert record["need_source"] == "model" and record["need"]
        assert record["model_versions"]["need"] >= len(rows)
    finally:
        assert worker.stop() == 0
