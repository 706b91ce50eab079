"""``crmstream infra up | status | down`` on their own ports and state folder."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from config.settings import Settings
from crmstream.infra.servers import PrometheusServer
from tests.conftest import free_port

SERVERS = ("kafka", "elasticsearch", "alertmanager", "prometheus")


@pytest.fixture
def isolated_env() -> Iterator[dict[str, str]]:
    # Elasticsearch runs as an unprivileged user when we are root: its state folder
    # must be traversable, which pytest's private tmp folders are not.
    state = Path(tempfile.mkdtemp(prefix="crmstream-infra-test-", dir="/tmp"))
    state.chmod(0o755)
    env = {
        **os.environ,
        "CRMSTREAM_STATE_DIR": str(state),
        "CRMSTREAM_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "CRMSTREAM_ELASTICSEARCH_URL": f"http://127.0.0.1:{free_port()}",
        "CRMSTREAM_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}",
        "CRMSTREAM_ALERTMANAGER_URL": f"http://127.0.0.1:{free_port()}",
        "CRMSTREAM_ELASTICSEARCH_HEAP": "512m",
        "CRMSTREAM_KAFKA_HEAP": "512m",
        "COLUMNS": "200",
    }
    yield env
    subprocess.run([sys.executable, "-m", "crmstream", "infra", "down"], env=env, check=False)
    subprocess.run(["rm", "-rf", str(state)], check=False)


def crmstream(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "crmstream", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


async def coordinator_of(bootstrap: str) -> int:
    """The broker id coordinating a consumer group, asked once (no retry)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return int(await admin.find_coordinator("crmstream-infra-test"))
    finally:
        await admin.close()


def pids_in(table: str) -> list[int]:
    return [int(p) for p in re.findall(r"│\s*(\d+)\s*│\s*$", table, flags=re.MULTILINE)]


def test_up_is_idempotent_status_reports_health_and_down_leaves_nothing(
    isolated_env: dict[str, str],
) -> None:
    up = crmstream(isolated_env, "infra", "up")
    assert up.count("started in") == len(SERVERS), up
    # A brand-new broker is only "up" once it can coordinate a consumer group: the first
    # group request right after answers without GroupCoordinatorNotAvailableError.
    assert asyncio.run(coordinator_of(isolated_env["CRMSTREAM_KAFKA_BOOTSTRAP_SERVERS"])) >= 0

    status = crmstream(isolated_env, "infra", "status")
    for name in SERVERS:
        line = next(row for row in status.splitlines() if f" {name} " in row)
        assert "healthy" in line and "127.0.0.1" in line, line
    pids = pids_in(status)
    assert len(pids) == len(SERVERS)

    again = crmstream(isolated_env, "infra", "up")
    assert again.count("already running, reused") == len(SERVERS), again
    assert pids_in(crmstream(isolated_env, "infra", "status")) == pids

    crmstream(isolated_env, "infra", "down")
    still_running = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    assert still_running == []
    after = crmstream(isolated_env, "infra", "status")
    assert after.count(" down ") == len(SERVERS), after
    state = Path(isolated_env["CRMSTREAM_STATE_DIR"])
    leftovers = subprocess.run(
        ["pgrep", "-f", str(state)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert leftovers == []


def test_a_server_started_in_this_process_stops_without_lingering(
    isolated_env: dict[str, str],
) -> None:
    # The test session itself starts servers as child processes: stop() must reap them
    # (an unreaped child stays a zombie and looks alive forever).
    settings = Settings(
        state_dir=Path(isolated_env["CRMSTREAM_STATE_DIR"]),
        prometheus_url=isolated_env["CRMSTREAM_PROMETHEUS_URL"],
    )
    prometheus = PrometheusServer(settings)
    assert prometheus.start() is True
    pid = prometheus.pid()
    assert pid is not None and prometheus.healthy()
    assert prometheus.stop(timeout_s=30) is True
    assert not Path(f"/proc/{pid}").exists()
    assert prometheus.pid() is None and not prometheus.healthy()
