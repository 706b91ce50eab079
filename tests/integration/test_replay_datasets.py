"""``crmstream replay`` on the real public datasets in ../shared/datasets, through the worker."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import Settings
from crmstream.infra import WorkerProcess
from streams.topics import DEADLETTER, FEEDBACK
from tests.conftest import worker_env
from tests.integration.support import consumer_lag, indexed, read_topic, wait_until

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
TWEETS = DATASETS / "airline_tweets" / "Tweets.csv"
WAIMAI = DATASETS / "waimai_10k" / "waimai_10k.csv"

pytestmark = pytest.mark.skipif(not TWEETS.exists(), reason=f"datasets not found in {DATASETS}")


def replay(settings: Settings, *args: str) -> str:
    env = {**os.environ, **worker_env(settings), "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "crmstream", "replay", *args],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_airline_tweets_replay_in_time_order_and_all_get_indexed(
    settings: Settings, worker: WorkerProcess
) -> None:
    output = replay(
        settings, str(TWEETS),
        "--map", "event_id=tweet_id", "--map", "text=text", "--map", "occurred_at=tweet_created",
        "--map", "need=negativereason", "--map", "customer_id=airline",
        "--set", "channel=social", "--set", "direction=inbound",
        "--metadata", "airline_sentiment", "--timezone", "America/Los_Angeles", "--order", "time",
    )  # fmt: skip
    with TWEETS.open(newline="", encoding="utf-8") as handle:
        ids = sorted({row["tweet_id"] for row in csv.DictReader(handle)})
    assert "sent 14640 events" in output and "skipped 0 rows" in output, output
    wait_until(lambda: len(indexed(settings, ids)) == len(ids), timeout_s=600, what="all tweets")
    found = indexed(settings, ids)
    assert all(len(docs) == 1 for docs in found.values())  # the repeated tweets: one document each
    sample = found["570301031407624196"][0]
    assert sample["need"] == "Bad Flight" and sample["channel"] == "social"
    assert sample["language"] == "en"
    assert sample["occurred_at"].startswith("2015-02-24T11:15:00")


def test_waimai_reviews_replay_as_feedback_without_dead_letters(
    settings: Settings, worker: WorkerProcess
) -> None:
    output = replay(
        settings, str(WAIMAI), "--kind", "feedback",
        "--map", "comment=review", "--map", "score=label", "--set", "kind=review",
        "--set", "scale.min=0", "--set", "scale.max=1", "--set", "customer_id=waimai",
        "--order", "shuffle", "--shuffle-seed", "0",
    )  # fmt: skip
    assert "sent 11987 events" in output, output
    wait_until(
        lambda: consumer_lag(settings, FEEDBACK) == 0, timeout_s=600, what="feedback consumed"
    )
    assert [r for r in read_topic(settings, DEADLETTER) if r.get("key") == "waimai"] == []
