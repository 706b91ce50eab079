"""``config/kibana/import.sh`` against a stand-in Kibana on loopback: with and without auth."""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "config" / "kibana" / "import.sh"
USER, PASSWORD = "elastic", "s3cret-Pw"


class StandInKibana(BaseHTTPRequestHandler):
    """Answers /api/status and the import like Kibana does, behind basic auth if asked to."""

    required: str | None = None  # the expected Authorization header
    imports: list[bytes] = []  # noqa: RUF012 (one server per test, reset by the fixture)

    def _allowed(self) -> bool:
        if self.required is None or self.headers.get("Authorization") == self.required:
            return True
        self._answer(401, b'{"statusCode":401}')
        return False

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self._allowed():
            self._answer(200, b'{"status":{"overall":{"level":"available"}}}')

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self._allowed():
            type(self).imports.append(body)
            self._answer(200, b'{"success":true,"successCount":9}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def kibana() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInKibana)
    StandInKibana.imports = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        StandInKibana.required = None


def run_import(url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(SCRIPT)],
        env={"PATH": os.environ["PATH"], "KIBANA_URL": url, "KIBANA_WAIT_ATTEMPTS": "2",
             "KIBANA_WAIT_SECONDS": "0", **env},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_import_without_auth(kibana: str) -> None:
    result = run_import(kibana)
    assert result.returncode == 0, result.stderr
    assert len(StandInKibana.imports) == 1 and b"index-pattern" in StandInKibana.imports[0]


def test_import_into_a_secured_kibana_sends_the_credentials_but_never_prints_them(
    kibana: str,
) -> None:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    StandInKibana.required = f"Basic {token}"
    refused = run_import(kibana)  # no credentials: never ready, a clear failure
    assert refused.returncode != 0 and "not ready" in refused.stderr
    wrong = run_import(kibana, KIBANA_USERNAME=USER, KIBANA_PASSWORD="wrong")
    assert wrong.returncode != 0 and StandInKibana.imports == []

    result = run_import(kibana, KIBANA_USERNAME=USER, KIBANA_PASSWORD=PASSWORD)
    assert result.returncode == 0, result.stderr
    assert len(StandInKibana.imports) == 1
    for output in (result, refused, wrong):
        assert PASSWORD not in output.stdout + output.stderr
