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

from crmstream.infra.errors import InfraError


def metric_value(page: str | None, name: str, **labels: str) -> float | None:
    """The sum of the samples ``name`` with these labels on a Prometheus text page.

    A line scan: polled several times a second, a full parse of the worker's page
    would cost the bench a tenth of a core on a machine it shares with the worker.
    ``None`` when there is no such sample (or no page).

    >>> page = 'x_total{a="1",b="2"} 3.0\\nx_total{a="2",b="2"} 4.0\\nx_created 9\\n'
    >>> metric_value(page, "x_total"), metric_value(page, "x_total", a="2"), metric_value(page, "y")
    (7.0, 4.0, None)
    """
    if page is None:
        return None
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    total: float | None = None
    for line in page.splitlines():
        if not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, label_text = head.partition("{")
        if metric == name and all(w in label_text for w in wanted):
            total = (total or 0.0) + float(value)
    return total


def children(pid: int) -> list[int]:
    """The process ids of ``pid``'s children (Linux ``/proc``; empty when it is gone)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(c) for c in f.read().split()]
    return found


class WorkerProcess:
    """A worker child process with its own environment and log file.

    ``env`` holds ``CRMSTREAM_*`` overrides (namespace, web port, ...); the worker's
    learner child serves its metrics on ``learner_port``.
    """

    def __init__(
        self,
        env: dict[str, str],
        log_file: Path,
        *,
        web_port: int,
        learner_port: int = 6067,
        web_host: str = "127.0.0.1",
    ):
        self.env = {"CRMSTREAM_LEARNER_WEB_PORT": str(learner_port), **env}
        self.log_file = log_file
        self.metrics_url = f"http://{web_host}:{web_port}/metrics"
        self.learner_metrics_url = f"http://{web_host}:{learner_port}/metrics"
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

    @property
    def learner_pid(self) -> int | None:
        """The learner child the worker runs (None while there is none)."""
        if not self.alive:
            return None
        assert self.process is not None
        for pid in children(self.process.pid):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if b"\0learner\0" in cmdline.read():
                    return pid
        return None

    def log_tail(self, lines: int = 60) -> str:
        """The last ``lines`` lines of the worker's log (DEBUG lines left out): what a
        failing test prints, so that a failure on a CI machine explains itself."""
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError as error:
            return f"(no log: {error})"
        kept = [line for line in text.splitlines() if "[DEBUG]" not in line]
        return "\n".join(kept[-lines:])

    def metrics(self, *, learner: bool = False) -> str | None:
        """The worker's (or its learner's) Prometheus metrics page; None when it does not answer."""
        url = self.learner_metrics_url if learner else self.metrics_url
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
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
        """Kill -9 the worker and its children, as a crash of the whole container would."""
        if self.process is not None:
            # Even when the worker itself is gone already: whatever is left of its group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def metric(self, name: str, **labels: str) -> float | None:
        """The sum of the worker's samples named ``name`` with these labels (e.g. a counter
        over all its reasons); None when there is none or the worker does not answer."""
        return metric_value(self.metrics(), name, **labels)

    def learner_metric(self, name: str, **labels: str) -> float | None:
        """Like :meth:`metric`, from the learner the worker runs as its child."""
        return metric_value(self.metrics(learner=True), name, **labels)

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
