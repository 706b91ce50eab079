"""The long-running processes the command line starts: the stream worker and the learner."""

from __future__ import annotations

import asyncio
import logging

from config.settings import Settings


def configure_logging(settings: Settings) -> None:
    """Log lines with time, pid, level and logger, at the configured level."""
    logging.basicConfig(
        level=settings.log_level.upper().replace("WARN", "WARNING").replace("CRIT", "CRITICAL"),
        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s",
    )


def run_worker(settings: Settings) -> None:
    """Run the Faust worker until it is stopped (the cluster is expected to be prepared)."""
    (settings.state_dir / "worker").mkdir(parents=True, exist_ok=True)
    # Faust's worker builds its own event loop; an asyncio.run() before closed ours.
    asyncio.set_event_loop(asyncio.new_event_loop())
    from faust.worker import Worker

    import agents  # noqa: F401  (registers the agents on the app)
    from models import tokenize
    from streams import language
    from streams.app import app as faust_app
    from streams.runtime import tune_allocator, tune_garbage_collector

    tune_allocator()
    # jieba's dictionary and langid's model now, not on the first batch that needs them.
    tokenize.preload()
    language.preload()
    tune_garbage_collector()  # everything imported so far lives as long as the process
    Worker(faust_app, loglevel=settings.log_level).execute_from_commandline()


def run_learner_process(settings: Settings, *, parent_pid: int | None) -> None:
    """Run the learner until it is stopped or ``parent_pid`` exits (Kafka access checked)."""
    from streams.learner import run_learner
    from streams.runtime import tune_allocator, tune_garbage_collector

    tune_allocator()
    tune_garbage_collector()
    asyncio.run(run_learner(settings, parent_pid=parent_pid))
