"""Fixtures shared by all tests.

Integration tests run against real servers: the ``local_servers`` fixture starts
Kafka, Elasticsearch and Prometheus once per session (reusing any that are
already running) and stops at the end only those it started. Each session
works in its own namespace (topics, indices, consumer group), deleted at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from config.settings import Settings
from crmstream.infra import LocalServer, WorkerProcess, servers
from streams.search_index import create_client, delete_namespace_indices
from streams.topics import delete_topics, ensure_topics


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


LOG_TAIL_LINES = 60


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's worker logs (the session worker's, and any ``*.log`` in its
    ``tmp_path``), last lines, in its report: CI keeps only the console, and a worker
    that stalled says why only in its log."""
    report: pytest.TestReport = yield
    if report.failed and report.when == "call":
        args = getattr(item, "funcargs", {})
        logs = [arg.log_file for arg in args.values() if isinstance(arg, WorkerProcess)]
        if isinstance(args.get("tmp_path"), Path):
            logs += sorted(args["tmp_path"].rglob("*.log"))
        for log in logs:
            lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            report.sections.append((f"{log.name}, last {len(lines)} lines", "\n".join(lines)))
    return report


@pytest.fixture(scope="session")
def local_servers() -> Iterator[list[LocalServer]]:
    base = Settings()
    started: list[LocalServer] = []
    every = servers(base)
    try:
        for server in every:
            if server.start():
                started.append(server)
        yield every
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture(scope="session")
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@contextlib.contextmanager
def namespace_settings(namespace: str) -> Iterator[Settings]:
    """Settings for a namespace whose topics exist; its topics and indices are deleted after."""
    scoped = Settings(
        namespace=namespace, worker_web_port=free_port(), learner_web_port=free_port()
    )
    asyncio.run(ensure_topics(scoped))
    try:
        yield scoped
    finally:
        asyncio.run(delete_topics(scoped))
        client = create_client(scoped)
        try:
            delete_namespace_indices(client, scoped)
        finally:
            client.close()


@pytest.fixture(scope="session")
def settings(local_servers: list[LocalServer], namespace: str) -> Iterator[Settings]:
    """Settings for this test session's namespace."""
    with namespace_settings(namespace) as session_settings:
        yield session_settings


def worker_env(settings: Settings) -> dict[str, str]:
    return {
        "CRMSTREAM_NAMESPACE": settings.namespace,
        "CRMSTREAM_WORKER_WEB_PORT": str(settings.worker_web_port),
        "CRMSTREAM_LEARNER_WEB_PORT": str(settings.learner_web_port),
        # Small batches: the tests send few events and want them processed promptly.
        "CRMSTREAM_BATCH_MAX_WAIT_S": "0.5",
    }


@pytest.fixture
def scoped(local_servers: list[LocalServer]) -> Iterator[Settings]:
    """A namespace of its own, for a test that runs (and kills) its own workers."""
    with namespace_settings(f"s{uuid.uuid4().hex[:10]}") as settings:
        yield settings


def start_scoped_worker(settings: Settings, log_file: Path, **env: str) -> WorkerProcess:
    """Start a worker for ``settings`` on a fresh web port; ``env`` adds CRMSTREAM_* overrides."""
    port, learner_port = free_port(), free_port()
    worker = WorkerProcess(
        {
            **worker_env(settings),
            "CRMSTREAM_WORKER_WEB_PORT": str(port),
            "CRMSTREAM_LEARNER_WEB_PORT": str(learner_port),
            **env,
        },
        log_file,
        web_port=port,
        learner_port=learner_port,
    )
    worker.start()
    return worker


@pytest.fixture(scope="session")
def worker(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    log_dir = Path(os.environ.get("CRMSTREAM_TEST_LOG_DIR", tmp_path_factory.mktemp("logs")))
    process = WorkerProcess(
        worker_env(settings),
        log_dir / f"worker-{settings.namespace}.log",
        web_port=settings.worker_web_port,
        learner_port=settings.learner_web_port,
    )
    process.start()
    yield process
    code = process.stop()
    assert code == 0, f"worker exited with {code}; see {process.log_file}"
