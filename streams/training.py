"""``crm.training`` messages: one per worker batch, with what the worker already computed.

There is one learner for the whole fleet, so every CPU second it spends per example
caps the fleet's rate; the workers scale out. A worker therefore publishes a batch of
training records as one message (a few when the batch is larger than
:data:`MAX_MESSAGE_BYTES`, under Kafka's 1 MB default) and does for the learner what
can be done without the models' latest state:

- tokenizes each inbound text (and each feedback comment): ``tokens``, so that neither
  the labelled learning, nor a later label or feedback joined to the text, nor the
  emerging-need clusterer tokenizes it again;
- counts the batch's keyword document frequencies: ``df`` = ``{"documents": n,
  "terms": {term: documents}}`` over the inbound texts, added by the learner at once
  (:meth:`models.keywords.KeywordExtractor.learn_counts`);
- passes on the need confidence its scorer gave an unlabelled inbound text
  (``need_confidence`` of a record with ``need_source`` ``"model"``; 0.0 when a scorer
  had no need class yet; ``null`` for an unscored record) and its likeliest needs
  (``need_top3``: ``[[need, probability], ...]``): the emerging-need detector's novelty
  gate reads their margin (:mod:`models.emerging`), so the learner predicts again only
  when the worker sent none (for at most :data:`models.bundle.EMERGING_SAMPLE` texts of a
  message). A scored record's ``need`` is sent only when it is a person's label, never the
  model's own guess;
- passes on, for a labelled inbound text it scored, the need its scorer predicted
  (``predicted``: the first of ``need_top3``, ``null`` when the scorer had no need
  class yet; ``predicted_version``: that scorer's need version). The learner's health
  monitor scores that prediction against the label instead of predicting the text
  again: it measures the model that served the record, and the learner is spared a
  prediction per labelled text (the largest single cost it had).

A message (``v`` = :data:`FORMAT`)::

    {"v": 2, "type": "communication", "records": [{...record, "tokens": [...],
     "confidence": 0.31}, ...], "df": {"documents": 312, "terms": {"refund": 40, ...}}}

``type`` is ``communication``, ``feedback`` or ``label``, one per message as the
agents produce them; records keep the batch's order and are learned in that order.
The old message of one example (``{"type": ..., "record": {...}}``) is still read
(:func:`learn_message`). Each message is one offset, so the bundle's version stays
the offset of the next message to learn, whatever the format.

>>> from models.bundle import ModelBundle
>>> from schemas.events import LabelEvent
>>> label = LabelEvent(event_id="e1", need="refund", labelled_by="agent-7")
>>> [value] = pack_training("label", [label])
>>> bundle = ModelBundle()
>>> outcome = learn_message(bundle, value)
>>> bundle.version, outcome.learned, outcome.unjoined  # e1 was never seen: unjoined
(1, 1, 1)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from pydantic import BaseModel

from models.bundle import LearnOutcome, ModelBundle
from models.features import from_record
from models.keywords import document_frequencies
from streams.forget import TRAINING_TYPE as FORGET_TYPE
from streams.pipeline import training_example

__all__ = ["FORMAT", "MAX_MESSAGE_BYTES", "learn_message", "pack_training", "packed_records"]

FORMAT = 2
# Kafka's default largest message (broker message.max.bytes, producer max.request.size)
# is about 1 MB; the rest is left for the record's own overhead.
MAX_MESSAGE_BYTES = 900_000


def packed_records(kind: str, records: Sequence[BaseModel]) -> list[dict[str, Any]]:
    """The training records of a batch, each with what the worker computes for the learner."""
    packed = []
    for record in records:
        fields = training_example(kind, record)["record"]
        if kind == "communication" and fields.get("direction") == "inbound":
            fields["tokens"] = from_record(fields).tokens
            if fields.get("priority"):  # the urgency model learns in the context it scores in
                fields.update(_served_context(record))
            if not fields.get("need"):
                fields["confidence"] = _confidence(record)
                fields["need_top3"] = _top_needs(record)
            elif getattr(record, "model_versions", None):
                fields.update(_served_need(record))
        elif kind == "feedback" and fields.get("comment"):
            fields["tokens"] = from_record({**fields, "text": fields["comment"]}).tokens
        packed.append(fields)
    return packed


def _served_context(record: BaseModel) -> dict[str, Any]:
    """The need and satisfaction the worker served with a record (its urgency's context:
    :func:`models.bundle.urgency_context`); nothing for a record that was not scored."""
    if not getattr(record, "model_versions", None):
        return {}
    return {
        "served_need": getattr(record, "need", None),
        "served_satisfaction": getattr(record, "satisfaction", None),
    }


def _confidence(record: BaseModel) -> float | None:
    """The worker's need confidence for an unlabelled record (None: it was not scored)."""
    if getattr(record, "need_source", None) == "model":
        confidence = getattr(record, "need_confidence", None)
        return None if confidence is None else float(confidence)
    # Scored by a model without any need class yet: it could not place the text.
    return 0.0 if getattr(record, "model_versions", None) else None


def _top_needs(record: BaseModel) -> list[list[Any]] | None:
    """The likeliest needs the worker's scorer gave an unlabelled record (None: unscored)."""
    if getattr(record, "need_source", None) != "model":
        return None
    top3 = getattr(record, "need_top3", None) or []
    return [[str(c.label), float(c.confidence)] for c in top3] or None


def _served_need(record: BaseModel) -> dict[str, Any]:
    """The need the worker's scorer predicted for a labelled record, and its version."""
    top3 = getattr(record, "need_top3", None) or []
    versions = getattr(record, "model_versions", None) or {}
    return {
        "predicted": str(top3[0].label) if top3 else None,
        "predicted_version": versions.get("need"),
    }


def pack_training(
    kind: str, records: Sequence[BaseModel], *, max_bytes: int = MAX_MESSAGE_BYTES
) -> list[bytes]:
    """Worker side: one batch's cleaned (scored or not) records → ``crm.training`` values.

    One message, or as few as keep each under ``max_bytes`` (a single record larger than
    that still goes alone: the edge's text budget keeps records far smaller).
    """
    return _messages(kind, packed_records(kind, records), max_bytes)


def _messages(kind: str, records: list[dict[str, Any]], max_bytes: int) -> list[bytes]:
    if not records:
        return []
    message: dict[str, Any] = {"v": FORMAT, "type": kind, "records": records}
    if kind == "communication":
        terms, documents = document_frequencies(
            r["tokens"] for r in records if r.get("direction") == "inbound"
        )
        message["df"] = {"documents": documents, "terms": terms}
    value = orjson.dumps(message)
    if len(value) <= max_bytes or len(records) == 1:
        return [value]
    half = len(records) // 2  # each half with its own counts: every message stands alone
    return _messages(kind, records[:half], max_bytes) + _messages(kind, records[half:], max_bytes)


def learn_message(bundle: ModelBundle, value: bytes) -> LearnOutcome:
    """Learner side: learn one ``crm.training`` message, packed or of the old single-example
    format; the bundle's version advances by one (the learner then says it learned until
    the offset after this message: :meth:`~models.bundle.ModelBundle.learned_until`).
    Raises ValueError for a message it cannot read."""
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        raise ValueError(f"training message is not JSON: {error}") from error
    if not isinstance(data, Mapping):
        raise ValueError("training message is not a JSON object")
    if "record" in data:  # the old format: one example
        return bundle.learn(data)
    if data.get("v") != FORMAT or not isinstance(data.get("records"), list):
        raise ValueError(f"unknown training message format {data.get('v')!r}")
    if data.get("type") == FORGET_TYPE:  # crmstream forget (streams.forget)
        forgotten = {
            str(r.get("request_id")): bundle.forget(
                r.get("event_ids", []), r.get("conversation_ids", [])
            )
            for r in data["records"]
        }
        bundle.learned_until(bundle.version + 1)
        return LearnOutcome(forgotten=forgotten)
    df = data.get("df")
    frequencies = None
    if isinstance(df, Mapping):
        frequencies = (df["terms"], int(df["documents"]))
    return bundle.learn_batch(str(data.get("type")), data["records"], frequencies)
