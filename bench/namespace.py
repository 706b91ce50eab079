"""The benchmark's own namespace (``bench<hex>``): its topics, indices, templates and the
worker's local state exist for one run and are deleted at its end.

The clean-up is the one ``tests/conftest.py``'s ``namespace_settings`` does,
plus the stage (c) topic and the worker's state folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import socket
import time
from collections.abc import Iterator

from bench.stages import KAFKA_STAGE_TOPIC
from config.settings import Settings
from streams.search_index import create_client, delete_namespace_indices
from streams.topics import TOPICS, delete_topics, ensure_topics

log = logging.getLogger(__name__)

BENCH_TOPICS = (*TOPICS, KAFKA_STAGE_TOPIC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_settings(base: Settings, namespace: str | None = None) -> Settings:
    """``base`` in a fresh namespace, with free ports for the bench worker and its learner."""
    return base.model_copy(
        update={
            "namespace": namespace or f"bench{secrets.token_hex(4)}",
            "worker_web_port": free_port(),
            "learner_web_port": free_port(),
        }
    )


def worker_state_dir(settings: Settings) -> str:
    """Where a worker of these settings keeps its tables (see ``streams/app.py``)."""
    return str(settings.state_dir / "worker" / f"{settings.app_id}-{settings.worker_web_port}")


def clean_up(settings: Settings, *, attempts: int = 4, retry_s: float = 5.0) -> list[str]:
    """Delete the namespace's topics, indices and templates and the worker's state;
    return what could not be deleted (never raises: the results are worth more)."""
    if not settings.namespace.startswith("bench"):
        raise ValueError(f"refusing to clean up namespace {settings.namespace!r}")
    problems = []
    for attempt in range(attempts):  # a broker may be restarting: try again a little later
        try:
            asyncio.run(delete_topics(settings, BENCH_TOPICS))
            break
        except Exception as error:
            if attempt == attempts - 1:
                problems.append(f"topics: {error!r}")
            else:
                time.sleep(retry_s)
    client = create_client(settings)
    try:
        delete_namespace_indices(client, settings)
    except Exception as error:
        problems.append(f"indices: {error!r}")
    finally:
        client.close()
    shutil.rmtree(worker_state_dir(settings), ignore_errors=True)
    for problem in problems:
        log.warning("bench clean-up of %s: %s", settings.namespace, problem)
    return problems


@contextlib.contextmanager
def bench_namespace(base: Settings) -> Iterator[Settings]:
    """Settings for a new bench namespace whose topics exist; everything deleted after."""
    settings = bench_settings(base)
    try:
        asyncio.run(ensure_topics(settings, BENCH_TOPICS))
        yield settings
    finally:
        clean_up(settings)
