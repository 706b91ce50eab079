"""All online models of a deployment, learned together, scored together, shipped together.

The learner owns one :class:`ModelBundle` and learns every message of ``crm.training``
in order; its ``version`` is the offset of the next message to learn, so a version
names exactly what the models have seen (a message is one example in the old format,
:meth:`ModelBundle.learn`, or a worker batch of them, :meth:`ModelBundle.learn_batch`;
the message format is :mod:`streams.training`'s). Scorers hold a restored copy and
call :meth:`ModelBundle.score`.

The learner is also where labels meet their text: a label or a feedback event
refers to an earlier communication (by ``event_id`` or ``conversation_id``), and
the bundle keeps a bounded memory of recent communications to join them.

What a batch costs the learner, and why:

- labels, feedback, corrections and labelled communications are learned in full and
  in order, exactly as one by one (the satisfaction model's softmax regressions run a
  tighter copy of River's SGD step, :func:`tight_softmax`: the same arithmetic in the
  same order, so the same weights to the last bit; the need model's is dense,
  :mod:`models.softmax`);
- a labelled communication's need is not predicted again: the health monitor scores
  the prediction the worker served (:mod:`streams.training`);
- keyword document frequencies arrive counted by the worker: one map per batch;
- every inbound text's terms are counted by the emerging-need detector
  (:mod:`models.emerging`); of a message, at most :data:`EMERGING_SAMPLE` unlabelled and
  :data:`EMERGING_KNOWN_SAMPLE` labelled texts are clustered (:func:`models.emerging.sample`):
  clustering is the costly step (about a millisecond a text), so its work per message is
  capped whatever the batch size. The need model's view of an unlabelled one (its top
  needs) is the worker's when the record carries it (``need_top3``), else predicted here,
  for those sampled only.

>>> bundle = ModelBundle()
>>> for i in range(30):
...     _ = bundle.learn({"type": "communication", "record": {
...         "event_id": f"e{i}", "text": "I want my money back" if i % 2 else "parcel not arrived",
...         "direction": "inbound", "need": "refund" if i % 2 else "delivery"}})
>>> bundle.version, bundle.score({"text": "give my money back please"}).need.label
(30, 'refund')
>>> outcome = bundle.learn_batch("label", [{"event_id": "e3", "need": "refund"}])
>>> bundle.version, outcome.learned, outcome.joined
(31, 1, True)
>>> ModelBundle.restore(bundle.snapshot()).version
31
"""

from __future__ import annotations

import logging
import pickle
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from river import linear_model, optim
from river.utils.math import softmax

from models.emerging import EmergingNeedEvent, EmergingNeeds, sample
from models.features import Example, from_record, with_context, with_tokens
from models.health import DriftEvent, Health
from models.keywords import KeywordExtractor
from models.need import NeedClassifier, NeedPrediction
from models.satisfaction import SatisfactionModel, SatisfactionPrediction
from models.snapshots import SnapshotRejected
from models.urgency import UrgencyModel, UrgencyPrediction
from schemas.events import normalize_score

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Scores:
    """What the models say about one communication."""

    need: NeedPrediction
    satisfaction: SatisfactionPrediction
    urgency: UrgencyPrediction
    keywords: list[str]
    versions: dict[str, int]


@dataclass
class LearnOutcome:
    """What learning one message did: examples learned, events raised (drift, emerging
    needs) and labels or feedback whose communication was unknown (``unjoined``)."""

    drift: list[DriftEvent] = field(default_factory=list)
    emerging: list[EmergingNeedEvent] = field(default_factory=list)
    unjoined: int = 0
    learned: int = 0  # examples, failed ones included
    failed: int = 0  # examples that raised (logged; the others are still learned)
    # A forget message (streams.forget): its request and the memory entries dropped.
    forgotten: dict[str, int] | None = None

    @property
    def joined(self) -> bool:
        """Whether every label and feedback found its communication."""
        return self.unjoined == 0


EMERGING_SAMPLE = 24
"""At most this many unlabelled texts of one batch message are clustered (see the module)."""

EMERGING_KNOWN_SAMPLE = 24
"""At most this many labelled texts of one batch message are clustered: the baseline."""

KINDS = ("communication", "feedback", "label")

SNAPSHOT_FORMAT = "crmstream.bundle/3"
"""The tag of :meth:`ModelBundle.snapshot`'s format: the models and the memories apart.

3: the emerging-need detector of issue #15 (:mod:`models.emerging`); a bundle of 2 (or of
the untagged format before it) holds the earlier detector, whose pickled state this code
cannot use, so such snapshots are refused, never restored half-working."""


class SnapshotFormatError(SnapshotRejected):
    """A snapshot names a format this code does not read (:data:`SNAPSHOT_FORMAT`)."""


_ABSENT = object()


class _Memory(OrderedDict[str, Any]):
    """A bounded least-recently-added map."""

    def __init__(self, limit: int = 20_000) -> None:
        super().__init__()
        self.limit = limit

    def remember(self, key: str, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class ModelBundle:
    """Need, satisfaction, urgency, keywords and emerging needs, with their health.

    What it offers, and who uses it:

    - the models, as attributes: ``need``, ``satisfaction``, ``urgency``, ``keywords``,
      ``emerging`` (each follows :class:`models.protocol.BaseOnlineModel`), and ``health``
      (:class:`models.health.Health`, their drift monitors);
    - :attr:`version`: the offset in ``crm.training`` of the next message to learn, so
      every message before it is in the models (read-only; it moves by one with each
      message learned, and :meth:`learned_until` says where the learner is);
      :attr:`versions` adds each model's own count of examples;
    - :meth:`score`: what the models say about one communication record (workers score
      batches with the compiled form, :mod:`models.compiled`);
    - :meth:`learn` (one example, the old training format) and :meth:`learn_batch` (a
      worker batch of one kind), each one ``crm.training`` message;
    - :meth:`forget`: drop communications from the memories that join labels and
      feedback to their text (``examples``, ``conversations``: bounded to ``memory``);
    - :meth:`snapshot` and :meth:`restore`: the bytes shipped on ``crm.models``.

    >>> bundle = ModelBundle(memory=100)
    >>> outcome = bundle.learn_batch("communication", [
    ...     {"event_id": "e1", "text": "refund my order", "direction": "inbound",
    ...      "need": "refund"}])
    >>> bundle.version, bundle.versions["need"], outcome.learned
    (1, 1, 1)
    >>> bundle.score({"text": "refund please"}).need.label
    'refund'
    >>> bundle.learned_until(41)  # the training message at offset 40 was the last learned
    >>> ModelBundle.restore(bundle.snapshot(), memories=False).version
    41
    >>> bundle.version = 0
    Traceback (most recent call last):
    AttributeError: property 'version' of 'ModelBundle' object has no setter
    """

    def __init__(self, *, memory: int = 20_000) -> None:
        self.need = NeedClassifier()
        self.satisfaction = SatisfactionModel()
        self.urgency = UrgencyModel()
        self.keywords = KeywordExtractor()
        self.emerging = EmergingNeeds()
        self.health = Health()
        self.learned_until(0)
        self.examples: _Memory = _Memory(memory)  # event_id -> Example
        self.conversations: _Memory = _Memory(memory)  # conversation_id -> Example (inbound)
        self._watch()

    def _watch(self) -> None:
        self.health.watch(self.need, "classification", target=lambda p: p.label)
        self.health.watch(self.satisfaction, "regression", target=lambda p: p.score)

    # The version stays in the instance's dict under its own name, as it always was, so a
    # snapshot's pickle keeps its layout: older snapshots restore, older workers read ours.
    @property
    def version(self) -> int:
        """The offset in ``crm.training`` of the next message to learn (:meth:`learned_until`)."""
        version: int = self.__dict__["version"]
        return version

    def learned_until(self, offset: int) -> None:
        """Say that the models hold every ``crm.training`` message before ``offset``: the
        :attr:`version` becomes ``offset``, where a learner resuming from this bundle
        starts reading.

        The learner calls it with the offset after each message it learned (or failed to
        learn: a bad message is not read again); ``crmstream bootstrap`` with the topic's
        current end, as the models it learned from a history file stand for everything the
        topic held so far. Learning a message moves the version by one on its own.

        >>> bundle = ModelBundle()
        >>> bundle.learned_until(7)
        >>> bundle.version, bundle.versions["bundle"]
        (7, 7)
        >>> bundle.learned_until(-1)
        Traceback (most recent call last):
        ValueError: a training offset is >= 0, got -1
        """
        if offset < 0:
            raise ValueError(f"a training offset is >= 0, got {offset}")
        self.__dict__["version"] = offset

    @property
    def versions(self) -> dict[str, int]:
        """The bundle's :attr:`version` and each model's own (the examples it learned)."""
        return {
            "bundle": self.version,
            "need": self.need.version,
            "satisfaction": self.satisfaction.version,
            "urgency": self.urgency.version,
            "keywords": self.keywords.version,
        }

    def score(self, record: Mapping[str, Any]) -> Scores:
        """Predict everything for a (cleaned) communication record."""
        x = from_record(record)
        need = self.need.predict_one(x)
        satisfaction = self.satisfaction.predict_one(x)
        urgency = self.urgency.predict_one(with_context(x, need.label, satisfaction.score))
        keywords = [term for term, _ in self.keywords.predict_one(x)]
        return Scores(need, satisfaction, urgency, keywords, self.versions)

    def learn(self, example: Mapping[str, Any]) -> LearnOutcome:
        """Learn from one training example (``{"type": ..., "record": {...}}``) in order.

        The learner's own need prediction decides whether an unlabelled text is clustered
        (the format of one example per message, before :meth:`learn_batch`).
        """
        kind, record = example["type"], example["record"]
        if kind not in KINDS:
            raise ValueError(f"unknown training example type {kind!r}")
        outcome = LearnOutcome()
        with tight_softmax(self._softmax_models()):
            if kind == "communication":
                x = self._remember(record)
                if self._inbound(record, x, outcome, keywords=True) is not None:
                    self._emerging([(record, x)], outcome)
            elif kind == "feedback":
                self._learn_feedback(record, outcome)
            else:
                self._learn_label(record, outcome)
        outcome.learned = 1
        self.learned_until(self.version + 1)
        return outcome

    def forget(self, event_ids: Sequence[str], conversation_ids: Sequence[str]) -> int:
        """Drop these communications from the join memory (a customer asked to be
        forgotten); returns how many entries went. What the models already learned from
        them stays in their weights: it cannot be taken out of an online model.

        >>> bundle = ModelBundle()
        >>> bundle.examples.remember("e1", None); bundle.conversations.remember("k1", None)
        >>> bundle.forget(["e1", "e2"], ["k1"]), len(bundle.examples), len(bundle.conversations)
        (2, 0, 0)
        """
        removed = 0
        for memory, keys in ((self.examples, event_ids), (self.conversations, conversation_ids)):
            for key in keys:
                removed += memory.pop(str(key), _ABSENT) is not _ABSENT
        return removed

    def learn_batch(
        self,
        kind: str,
        records: Sequence[Mapping[str, Any]],
        document_frequencies: tuple[Mapping[str, int], int] | None = None,
    ) -> LearnOutcome:
        """Learn one worker batch of training records of one ``kind``, in order.

        Records may carry what the worker computed (:mod:`streams.training`):
        ``tokens`` (of the text, or of a feedback's comment), and for an unlabelled
        communication ``confidence``, the worker's need confidence (None: unknown, the
        learner predicts it if the text is sampled). ``document_frequencies`` is the
        batch's inbound keyword counts ``(term -> documents, documents)``; without it each
        inbound text is counted here. Counts as one message in :attr:`version`.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown training example type {kind!r}")
        outcome = LearnOutcome(learned=len(records))
        with tight_softmax(self._softmax_models()):
            if kind == "communication":
                self._learn_communications(records, document_frequencies, outcome)
            else:
                learn = self._learn_feedback if kind == "feedback" else self._learn_label
                for record in records:
                    self._guarded(learn, record, outcome)
        self.learned_until(self.version + 1)
        return outcome

    @staticmethod
    def _guarded(learn: Any, record: Mapping[str, Any], outcome: LearnOutcome) -> Any:
        """``learn(record, outcome)``; a record that fails costs itself, not its batch."""
        try:
            return learn(record, outcome)
        except Exception:
            outcome.failed += 1
            log.exception("could not learn training record %.200r", record.get("event_id"))
            return None

    def _learn_communications(
        self,
        records: Sequence[Mapping[str, Any]],
        document_frequencies: tuple[Mapping[str, int], int] | None,
        outcome: LearnOutcome,
    ) -> None:
        if document_frequencies is not None:
            # Nothing else reads the keyword counts while learning: adding the batch's
            # first gives the model the same counts as adding them text by text.
            self.keywords.learn_counts(*document_frequencies)
        inbound: list[tuple[Mapping[str, Any], Example]] = []
        learn = partial(self._learn_packed, keywords=document_frequencies is None)
        for record in records:
            x = self._guarded(learn, record, outcome)
            if x is not None and record.get("direction") == "inbound":
                inbound.append((record, x))
        self._emerging(inbound, outcome)

    def _emerging(
        self, inbound: Sequence[tuple[Mapping[str, Any], Example]], outcome: LearnOutcome
    ) -> None:
        """Show the emerging-need detector a message's inbound texts: all are counted; at
        most :data:`EMERGING_SAMPLE` unlabelled and :data:`EMERGING_KNOWN_SAMPLE` labelled
        ones (by a hash of their event id) are clustered, with the need model's view."""
        detector = self.emerging
        labelled: list[tuple[str, Mapping[str, Any], Example]] = []
        unlabelled: list[tuple[str, Mapping[str, Any], Example]] = []
        for record, x in inbound:
            detector.count(x, at=_epoch(record.get("occurred_at")))
            key = str(record.get("event_id", ""))
            (labelled if record.get("need") else unlabelled).append((key, record, x))
        chosen = [
            group[i]
            for group, k in ((labelled, EMERGING_KNOWN_SAMPLE), (unlabelled, EMERGING_SAMPLE))
            for i in sample([key for key, _, _ in group], k)
        ]
        for key, record, x in chosen:
            need = record.get("need")
            proba = None
            if not need:
                proba = _top_needs(record.get("need_top3"))
                if proba is None and self.need.class_counts:
                    proba = list(self.need.predict_proba_one(x).items())
            event = detector.observe(
                x,
                need=str(need) if need else None,
                key=key,
                at=_epoch(record.get("occurred_at")),
                proba=proba,
                counted=True,
            )
            outcome.emerging += [event] if event else []

    def _learn_packed(
        self, record: Mapping[str, Any], outcome: LearnOutcome, *, keywords: bool
    ) -> Example:
        x = self._remember(record)
        self._inbound(record, x, outcome, keywords=keywords)
        return x

    def _remember(self, record: Mapping[str, Any]) -> Example:
        x = urgency_context(from_record(record), record)
        tokens = record.get("tokens")
        if isinstance(tokens, list):
            with_tokens(x, map(str, tokens))
        self.examples.remember(str(record["event_id"]), x)
        return x

    def _inbound(
        self, record: Mapping[str, Any], x: Example, outcome: LearnOutcome, *, keywords: bool
    ) -> bool | None:
        """Learn what an inbound communication teaches; whether it had a need label
        (None: outbound, nothing to learn)."""
        if record.get("direction") != "inbound":
            return None
        if record.get("conversation_id"):
            self.conversations.remember(str(record["conversation_id"]), x)
        if keywords:
            self.keywords.learn_one(x)
        labelled = bool(record.get("need"))
        if labelled:
            self._need_step(x, record, outcome)
        if record.get("priority"):
            self.urgency.learn_one(urgency_context(x, record), record["priority"])
        return labelled

    def _need_step(self, x: Example, record: Mapping[str, Any], outcome: LearnOutcome) -> None:
        """Score a need prediction of ``x`` against its label, then learn the label.

        The prediction is the worker's (``predicted``, made by the scorer of version
        ``predicted_version`` that served the record: :mod:`streams.training`) when the
        record carries it; else ``health.step(self.need, x, need)``'s own, of which only
        the label is computed (the first likeliest, as ``predict_one``).
        """
        need = record["need"]
        if "predicted" in record:
            label, version = record["predicted"], record.get("predicted_version")
            label = None if label is None else str(label)
            if not isinstance(version, int) or isinstance(version, bool):
                version = self.need.version
        else:
            label, version = None, self.need.version
            if self.need.class_counts:
                proba = self.need.classifier.predict_proba_one(self.need.features(x))
                if proba:
                    label = str(max(proba.items(), key=_probability)[0])
        drift = self.health.observe(self.need.name, need, label, version)
        self.need.learn_one(x, need)
        outcome.drift += [drift] if drift else []

    def _learn_feedback(self, record: Mapping[str, Any], outcome: LearnOutcome) -> None:
        scale = record["scale"]
        target = normalize_score(float(record["score"]), scale["min"], scale["max"])
        if record.get("comment"):
            comment = from_record({**record, "text": record["comment"]})
            tokens = record.get("tokens")
            if isinstance(tokens, list):
                with_tokens(comment, map(str, tokens))
            # health.step(self.satisfaction, comment, target), predicting only the score
            # it compares (the sentiment and its terms would go unread).
            satisfaction = self.satisfaction
            score = satisfaction.predict_score(comment)
            drift = self.health.observe(satisfaction.name, target, score, satisfaction.version)
            satisfaction.learn_one(comment, target)
            outcome.drift += [drift] if drift else []
        # The conversation the feedback closes says as much about satisfaction as the comment.
        closed = self.conversations.get(str(record.get("conversation_id")))
        if closed is not None:
            self.satisfaction.learn_one(closed, target)
        if record.get("need") and closed is not None:
            self.need.learn_one(closed, record["need"])
        if closed is None and not record.get("comment"):
            outcome.unjoined += 1

    def _learn_label(self, record: Mapping[str, Any], outcome: LearnOutcome) -> None:
        key = str(record["event_id"])
        if key in self.emerging.clusters and record.get("need"):
            # A label on an emerging-need cluster (its event's id): its need becomes a
            # class, learned from the members still remembered.
            need = str(record["need"])
            for member in self.emerging.label_cluster(key, need):
                remembered = self.examples.get(member)
                if remembered is not None:
                    self.need.learn_one(remembered, need)
            return
        x = self.examples.get(key)
        if x is None:
            outcome.unjoined += 1
            return
        if record.get("need"):
            self.need.learn_one(x, record["need"])
        if record.get("satisfaction") is not None:
            self.satisfaction.learn_one(x, float(record["satisfaction"]))
        if record.get("priority"):
            self.urgency.learn_one(urgency_context(x, record), record["priority"])

    def _softmax_models(self) -> list[Any]:
        return [
            getattr(model, attribute, None)
            for model, attribute in (
                # (the need's softmax is dense, models.softmax: fast on its own)
                (self.satisfaction, "sentiment"),
                (self.satisfaction, "levels"),
            )
        ]

    # -- snapshots ------------------------------------------------------------------
    #: The memories of recent texts (for joining labels and feedback): only the learner
    #: reads them, and they are about two thirds of a snapshot.
    _MEMORIES = ("examples", "conversations")

    def snapshot(self) -> bytes:
        """The whole bundle, compressed. Sign it before it leaves the process.

        The models and the memories are pickled and compressed apart, so that a worker,
        which only scores, restores the models alone (:meth:`restore`).
        """
        state = self.__dict__.copy()
        memories = {name: state[name] for name in self._MEMORIES}
        for name, memory in memories.items():  # empty, with their limits, beside the models
            state[name] = _Memory(memory.limit)
        models = object.__new__(type(self))
        models.__dict__.update(state)
        return pickle.dumps(
            (
                SNAPSHOT_FORMAT,
                zlib.compress(pickle.dumps(models, protocol=pickle.HIGHEST_PROTOCOL), level=6),
                zlib.compress(pickle.dumps(memories, protocol=pickle.HIGHEST_PROTOCOL), level=6),
            ),
            protocol=pickle.HIGHEST_PROTOCOL,
        )

    @classmethod
    def restore(cls, data: bytes, *, memories: bool = True) -> ModelBundle:
        """Rebuild a bundle from :meth:`snapshot` (only ever from a verified snapshot).

        ``memories=False`` leaves the memories of recent texts empty (what a scorer
        needs: the models alone, restored in about a third of the time). A snapshot of
        another format (:data:`SNAPSHOT_FORMAT`), the untagged one of the earliest learners
        (the whole bundle in one compressed pickle) included, raises
        :class:`SnapshotFormatError` before any of its models is unpickled.
        """
        if data[:1] != b"\x80":  # the untagged format: a zlib stream
            raise SnapshotFormatError(
                f"untagged snapshot format (older than crmstream.bundle/2); "
                f"this process reads {SNAPSHOT_FORMAT}"
            )
        tag, models, remembered = pickle.loads(data)
        if tag != SNAPSHOT_FORMAT:
            raise SnapshotFormatError(
                f"unknown snapshot format {tag!r}; this process reads {SNAPSHOT_FORMAT}"
            )
        bundle = pickle.loads(zlib.decompress(models))
        if memories and isinstance(bundle, cls):
            for name, memory in pickle.loads(zlib.decompress(remembered)).items():
                setattr(bundle, name, memory)
        if not isinstance(bundle, cls):
            raise TypeError(f"snapshot holds {type(bundle).__name__}, not {cls.__name__}")
        bundle._watch()
        return bundle


def _probability(item: tuple[Any, float]) -> float:
    return item[1]


def _top_needs(value: Any) -> list[tuple[str, float]] | None:
    """The worker's top needs of a record (``[[need, p], ...]`` or ``[{"label",
    "confidence"}]``), or None when it sent none it could read.

    >>> _top_needs([["refund", 0.7], {"label": "billing", "confidence": 0.2}]), _top_needs([])
    ([('refund', 0.7), ('billing', 0.2)], None)
    """
    if not isinstance(value, list):
        return None
    top = []
    for item in value:
        if isinstance(item, Mapping):
            item = (item.get("label"), item.get("confidence"))
        if isinstance(item, list | tuple) and len(item) == 2:
            try:
                top.append((str(item[0]), float(item[1])))
            except (TypeError, ValueError):
                continue
    return top or None


def _epoch(value: Any) -> float | None:
    """An ``occurred_at`` (ISO 8601, or epoch seconds) as epoch seconds; None if unreadable.

    >>> _epoch("2026-01-05T09:00:00Z"), _epoch(12.5), _epoch("soon")
    (1767603600.0, 12.5, None)
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


# -- River's softmax regression, tighter -------------------------------------------------


def _dot(weights: Mapping[Any, float], x: Mapping[Any, float]) -> float:
    """``river.utils.math.dot(weights, x)``: the same products, summed in the same order."""
    if len(weights) < len(x):
        return sum([wi * x[i] for i, wi in weights.items() if i in x])
    return sum([weights[i] * xi for i, xi in x.items() if i in weights])


def _softmax_proba(model: Any, x: Mapping[Any, float]) -> MutableMapping[Any, float]:
    """``SoftmaxRegression.predict_proba_one``, with :func:`_dot`."""
    return softmax({label: _dot(w, x) for label, w in model.weights.items()})


def _softmax_learn(model: Any, x: Mapping[Any, float], y: Any) -> None:
    """``SoftmaxRegression.learn_one`` with plain SGD and cross-entropy, without River's
    generic layers (look-ahead calls, gradient dicts, optimizer dispatch).

    Each weight gets ``w -= lr * (x_i * loss + l2 * w)`` with ``loss = clamp(p) - (y ==
    label)``, exactly River's expression; SGD's look-ahead does nothing; a class weight of
    1.0 (none is set) multiplies exactly. Classes are visited in River's order for any
    that is new, so the weights, their order and the optimizers' counts are River's.
    """
    proba = _softmax_proba(model, x)
    labels = list(proba)
    if y not in proba:
        labels.append(y)
    l2 = model.l2
    items = list(x.items())
    for label in labels:
        loss = max(min(proba.get(label, 0.0), 1 - 1e-15), 1e-15) - (y == label)
        weights = model.weights[label]
        optimizer = model.optimizers[label]
        rate = optimizer.learning_rate
        if rate == 1.0 and l2 == 0:
            # The same numbers: 1.0 * g is g, and adding 0.0 * w changes no finite
            # gradient but the sign of a zero, which a subtraction from w then ignores.
            for i, xi in items:
                weights[i] -= xi * loss
        elif l2 == 0:  # the same, at another rate (the need model's class balancing)
            for i, xi in items:
                weights[i] -= rate * (xi * loss)
        else:
            get = weights.get
            for i, xi in items:
                weights[i] -= rate * (xi * loss + l2 * get(i, 0))
        optimizer.n_iterations += 1


def _tightenable(model: Any) -> bool:
    """Whether :func:`_softmax_learn` computes exactly what ``model.learn_one`` would."""
    if type(model) is not linear_model.SoftmaxRegression:
        return False
    loss = model.loss
    if type(loss) is not optim.losses.CrossEntropy or loss.class_weight:
        return False
    return all(
        type(o) is optim.SGD and type(o.lr) is optim.schedulers.Constant
        for o in (model.optimizer, *model.optimizers.values())
    )


TIGHT_SOFTMAX = True
"""False: River's own code everywhere (the reference the tests compare with)."""


@contextmanager
def tight_softmax(models: Sequence[Any]) -> Iterator[None]:
    """Within the block, these River softmax regressions learn and predict by
    :func:`_softmax_learn` and :func:`_softmax_proba`: the same numbers, about twice as fast.

    Bound on the instances only for the block (never pickled in a snapshot); a model
    with another optimizer, loss or class weights keeps River's own code.
    """
    tightened = [model for model in models if TIGHT_SOFTMAX and _tightenable(model)]
    for model in tightened:
        vars(model)["learn_one"] = partial(_softmax_learn, model)
        vars(model)["predict_proba_one"] = partial(_softmax_proba, model)
    try:
        yield
    finally:
        for model in tightened:
            vars(model).pop("learn_one", None)
            vars(model).pop("predict_proba_one", None)


def urgency_context(x: Example, record: Mapping[str, Any]) -> Example:
    """``x`` with the context the urgency model learns with (:class:`UrgencyModel`): a
    person's need and satisfaction where the record has them (a label), else what the
    worker served with the record (``served_need``, ``served_satisfaction``:
    :mod:`streams.training`), else what ``x`` carries already. So the regression learns
    from the need and satisfaction it is given when scoring, not from unknowns.

    >>> x = urgency_context(Example("refund now"), {"served_need": "refund",
    ...                                             "served_satisfaction": 0.1})
    >>> x.need, x.satisfaction
    ('refund', 0.1)
    >>> y = urgency_context(x, {"need": "billing", "satisfaction": 0.9})  # a person's labels
    >>> y.need, y.satisfaction
    ('billing', 0.9)
    >>> urgency_context(x, {}) == x
    True
    """
    need = record.get("need") or record.get("served_need") or x.need
    rated = record.get("satisfaction")
    served = record.get("served_satisfaction")
    satisfaction = (
        float(rated)
        if rated is not None
        else float(served)
        if served is not None
        else x.satisfaction
    )
    if (need, satisfaction) == (x.need, x.satisfaction):
        return x
    return with_context(x, need, satisfaction)
