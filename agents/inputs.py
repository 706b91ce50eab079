"""The worker's input topics, read by :class:`streams.inputs.InputReader`.

``crm.communications`` is scored (:mod:`agents.communications`); ``crm.feedback`` and
``crm.labels`` are checked and forwarded to the learner (:mod:`agents.feedback`).
"""

from __future__ import annotations

import asyncio
import contextlib

from agents.communications import ScoreCommunications
from agents.feedback import CheckAndForward, check_feedback, check_labels
from streams import metrics
from streams.app import app, settings
from streams.backlog import Backlog
from streams.inputs import Input, InputReader
from streams.topics import ALERT_AGGREGATES, CONVERSATION_TURNS, CUSTOMER_CONTACTS, FEEDBACK, LABELS


class _Reader:
    # The reader of this worker, once it runs (readiness and the lag gauge look at it).
    current: InputReader | None = None


def input_reader() -> InputReader | None:
    """This worker's input reader, once it runs."""
    return _Reader.current


@app.task
async def read_inputs() -> None:
    scorer = ScoreCommunications()
    feedback: CheckAndForward = check_feedback()
    labels: CheckAndForward = check_labels()
    # What the batches feed Faust's agents (streams.backlog): no new batch while too
    # much of it waits.
    backlog = Backlog(
        settings,
        settings.app_id,
        [settings.topic_name(t) for t in (ALERT_AGGREGATES, CONVERSATION_TURNS, CUSTOMER_CONTACTS)],
    )

    async def downstream() -> None:
        waited = await backlog.wait_below(settings.internal_backlog_max)
        if waited:
            metrics.INPUT_PAUSED_SECONDS.inc(waited)

    reader = InputReader(
        settings,
        [
            # Exactly once: the scorer's transactions store its input offsets.
            Input(scorer.topic, "score_communications", scorer, scorer.exactly_once is None),
            Input(settings.topic_name(FEEDBACK), "check_feedback", feedback),
            Input(settings.topic_name(LABELS), "check_labels", labels),
        ],
        downstream,
    )
    _Reader.current = reader
    measuring = asyncio.ensure_future(backlog.run())
    try:
        await reader.run()
    finally:
        measuring.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await measuring
        _Reader.current = None
        for handler in (scorer, feedback, labels):
            await handler.close()
