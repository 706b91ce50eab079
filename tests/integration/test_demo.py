"""The quick start's main command, ``crmstream demo``, end to end (smaller, own namespace)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
import uuid

from config.settings import Settings
from crmstream.infra import LocalServer
from crmstream.infra.servers import OpsPageServer
from tests.conftest import free_port, namespace_settings


def summary_number(output: str, row: str) -> int:
    found = re.search(rf"{re.escape(row)}\s*│\s*(\d+)", output)
    assert found is not None, f"no {row!r} row in:\n{output}"
    return int(found.group(1))


def test_demo_streams_generated_events_and_prints_a_summary(
    local_servers: list[LocalServer],
) -> None:
    ops_port = free_port()
    with namespace_settings(f"d{uuid.uuid4().hex[:10]}") as settings:
        env = {
            **os.environ,
            "CRMSTREAM_NAMESPACE": settings.namespace,
            "CRMSTREAM_WORKER_WEB_PORT": str(free_port()),
            "CRMSTREAM_OPS_WEB_PORT": str(ops_port),
            "COLUMNS": "160",
        }
        page = OpsPageServer(Settings(namespace=settings.namespace, ops_web_port=ops_port))
        try:
            result = subprocess.run(
                [sys.executable, "-m", "crmstream", "demo", "--count", "400", "--seed", "5"],
                env=env, capture_output=True, text=True, timeout=900, check=False,
            )  # fmt: skip
            output = result.stdout + result.stderr
            assert result.returncode == 0, output
            # The demo leaves the ops page running, on this namespace's data.
            with urllib.request.urlopen(f"{page.url}api/snapshot", timeout=30) as response:
                snapshot = json.loads(response.read())
        finally:
            page.stop()
    assert f"ops page running: {page.url}" in output
    assert snapshot["namespace"] == settings.namespace
    assert sum(snapshot["charts"]["overall"]["volume"]) == summary_number(output, "communications")
    assert {d["reason"] for d in snapshot["dead_letters"]} == {"not_json", "not_utf8", "schema"}
    communications = summary_number(output, "communications")
    indexed = summary_number(output, "indexed in Elasticsearch")
    assert communications > 200 and indexed == communications
    assert re.search(r"dead letters \(crm.deadletter\)\s*│\s*3", output), output
    assert "worker stopped (exit code 0)" in output
    assert "top needs" in output
    # The second half of the stream is scored with what the learner learned from the first.
    assert summary_number(output, "newest model version used") > 0
