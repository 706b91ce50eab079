"""The worker's side of learning: it runs the learner beside itself and follows its snapshots.

The learner is a process of its own (:mod:`streams.learner`): with
``CRMSTREAM_LEARNER=child`` (the default) every worker starts one as a child and
restarts it if it dies; one of them holds the training partition and learns,
the others stand by. Every worker follows ``crm.models`` and swaps in each new
snapshot (:class:`streams.model_sync.LiveModel`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys

from streams.app import app, live_model, settings
from streams.model_sync import SnapshotFollower

log = logging.getLogger(__name__)

# Seconds before a learner that died is started again; doubled while it keeps dying.
RESTART_DELAY_S = (1.0, 30.0)
# How long a learner may take to publish its last snapshot when the worker stops.
STOP_TIMEOUT_S = 30.0


async def _stop(child: asyncio.subprocess.Process) -> None:
    if child.returncode is not None:
        return
    child.terminate()
    try:
        await asyncio.wait_for(child.wait(), STOP_TIMEOUT_S)
    except TimeoutError:
        log.warning("learner %d did not stop within %.0f s; killing it", child.pid, STOP_TIMEOUT_S)
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await child.wait()


@app.task
async def supervise_learner() -> None:
    """Run ``crmstream learner`` as a child while the worker runs; stop it with the worker."""
    if settings.learner != "child":
        return
    delay = RESTART_DELAY_S[0]
    while True:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "crmstream",
            "learner",
            "--parent-pid",
            str(os.getpid()),
            stdin=asyncio.subprocess.DEVNULL,
        )
        log.info("started the learner (pid %d)", child.pid)
        try:
            code = await child.wait()
        finally:
            # Cancelled when the worker stops: the learner publishes what is new and exits.
            await asyncio.shield(_stop(child))
        log.error("the learner exited with %d; starting it again in %.0f s", code, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, RESTART_DELAY_S[1])


@app.task
async def follow_models() -> None:
    while True:
        follower = SnapshotFollower(settings, memories=False)  # scoring needs the models only
        await follower.start()
        try:
            newest = await follower.latest()
            if newest is not None:
                live_model.swap(newest)
            await follower.follow(live_model.swap, poll_s=settings.model_sync_poll_s)
        except asyncio.CancelledError:
            raise
        except Exception:  # scoring goes on with the current model meanwhile
            log.exception("following model snapshots failed; retrying in 1 s")
            await asyncio.sleep(1)
        finally:
            await follower.stop()
