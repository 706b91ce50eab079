"""The worker's input topics, read by :class:`streams.inputs.InputReader`.

``crm.communications`` is scored (:mod:`agents.communications`); ``crm.feedback`` and
``crm.labels`` are checked and forwarded to the learner (:mod:`agents.feedback`).
"""

from __future__ import annotations

from agents.communications import ScoreCommunications
from agents.feedback import CheckAndForward, check_feedback, check_labels
from streams.app import app, settings
from streams.inputs import Input, InputReader
from streams.topics import FEEDBACK, LABELS


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
    reader = InputReader(
        settings,
        [
            # Exactly once: the scorer's transactions store its input offsets.
            Input(scorer.topic, "score_communications", scorer, scorer.exactly_once is None),
            Input(settings.topic_name(FEEDBACK), "check_feedback", feedback),
            Input(settings.topic_name(LABELS), "check_labels", labels),
        ],
    )
    _Reader.current = reader
    try:
        await reader.run()
    finally:
        _Reader.current = None
        for handler in (scorer, feedback, labels):
            await handler.close()
