"""Run ``crmstream worker`` as a child process (the demo and the integration tests do)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from prometheus_client.parser import text_string_to_metric_families

from crmstream.infra.errors import InfraError


class WorkerProcess:
    """A worker child process with its own environment and log file.

    ``env`` holds ``CRMSTREAM_*`` overrides (namespace, web port, ...).
    """

    def __init__(
        self, env: dict[str, str], log_file: Path, *, web_port: int, web_host: str = "127.0.0.1"
    ):
        self.env = env
        self.log_file = log_file
        self.metrics_url = f"http://{web_host}:{web_port}/metrics"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 120.0) -> None:
        """Start the worker and wait until its web server answers."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "crmstream", "worker"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise InfraError(
                    f"worker exited with {self.process.returncode}; see {self.log_file}"
                )
            if self.metrics() is not None:
                return
            time.sleep(0.5)
        raise InfraError(f"worker did not come up within {timeout_s:.0f}s; see {self.log_file}")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def metrics(self) -> str | None:
        """The worker's Prometheus metrics page, or None when it does not answer."""
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
                return str(response.read().decode())
        except (urllib.error.URLError, OSError):
            return None

    def stop(self, timeout_s: float = 60.0) -> int | None:
        """Stop cleanly (SIGTERM, as an orchestrator would); SIGKILL only past the timeout."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """Kill -9, as a crash or an out-of-memory kill would: no clean-up at all."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def metric(self, name: str, **labels: str) -> float | None:
        """The sum of the worker's samples named ``name`` with these labels (e.g. a counter
        over all its reasons); None when there is none or the worker does not answer."""
        page = self.metrics()
        if page is None:
            return None
        values = [
            float(sample.value)
            for family in text_string_to_metric_families(page)
            for sample in family.samples
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
        ]
        return sum(values) if values else None

    def __enter__(self) -> WorkerProcess:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
