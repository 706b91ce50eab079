"""All online models of a deployment, learned together, scored together, shipped together.

The learner owns one :class:`ModelBundle`: it learns from every training example
in order (:meth:`ModelBundle.learn`) and its ``version`` is the number of training
examples consumed, so a version names exactly what the models have seen. Scorers
hold a restored copy and call :meth:`ModelBundle.score`.

The learner is also where labels meet their text: a label or a feedback event
refers to an earlier communication (by ``event_id`` or ``conversation_id``), and
the bundle keeps a bounded memory of recent communications to join them.

>>> bundle = ModelBundle()
>>> for i in range(30):
...     _ = bundle.learn({"type": "communication", "record": {
...         "event_id": f"e{i}", "text": "I want my money back" if i % 2 else "parcel not arrived",
...         "direction": "inbound", "need": "refund" if i % 2 else "delivery"}})
>>> bundle.version, bundle.score({"text": "give my money back please"}).need.label
(30, 'refund')
>>> ModelBundle.restore(bundle.snapshot()).version
30
"""

from __future__ import annotations

import pickle
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from models.emerging import EmergingNeedEvent, EmergingNeeds
from models.features import from_record
from models.health import DriftEvent, Health
from models.keywords import KeywordExtractor
from models.need import NeedClassifier, NeedPrediction
from models.satisfaction import SatisfactionModel, SatisfactionPrediction
from models.urgency import UrgencyModel, UrgencyPrediction


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
    """Events the learning of one example raised (drift, emerging needs)."""

    drift: list[DriftEvent] = field(default_factory=list)
    emerging: list[EmergingNeedEvent] = field(default_factory=list)
    joined: bool = True  # False: a label or feedback whose communication is unknown


EMERGING_BELOW_CONFIDENCE = 0.5
"""Unlabelled texts whose need the model gives less confidence than this are clustered."""


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
    """Need, satisfaction, urgency, keywords and emerging needs, with their health."""

    def __init__(self, *, memory: int = 20_000) -> None:
        self.need = NeedClassifier()
        self.satisfaction = SatisfactionModel()
        self.urgency = UrgencyModel()
        self.keywords = KeywordExtractor()
        self.emerging = EmergingNeeds()
        self.health = Health()
        self.version = 0
        self.examples: _Memory = _Memory(memory)  # event_id -> Example
        self.conversations: _Memory = _Memory(memory)  # conversation_id -> Example (inbound)
        self._watch()

    def _watch(self) -> None:
        self.health.watch(self.need, "classification", target=lambda p: p.label)
        self.health.watch(self.satisfaction, "regression", target=lambda p: p.score)

    @property
    def versions(self) -> dict[str, int]:
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
        urgency = self.urgency.predict_one(x, need=need.label, satisfaction=satisfaction.score)
        keywords = [term for term, _ in self.keywords.predict_one(x)]
        return Scores(need, satisfaction, urgency, keywords, self.versions)

    def learn(self, example: Mapping[str, Any]) -> LearnOutcome:
        """Learn from one training example (``{"type": ..., "record": {...}}``) in order."""
        kind, record = example["type"], example["record"]
        outcome = LearnOutcome()
        if kind == "communication":
            self._learn_communication(record, outcome)
        elif kind == "feedback":
            self._learn_feedback(record, outcome)
        elif kind == "label":
            self._learn_label(record, outcome)
        else:
            raise ValueError(f"unknown training example type {kind!r}")
        self.version += 1
        return outcome

    def _learn_communication(self, record: Mapping[str, Any], outcome: LearnOutcome) -> None:
        x = from_record(record)
        self.examples.remember(str(record["event_id"]), x)
        if record.get("direction") != "inbound":
            return
        if record.get("conversation_id"):
            self.conversations.remember(str(record["conversation_id"]), x)
        self.keywords.learn_one(x)
        if record.get("need"):
            _, drift = self.health.step(self.need, x, record["need"])
            outcome.drift += [drift] if drift else []
        elif self.need.predict_one(x).confidence < EMERGING_BELOW_CONFIDENCE:
            # Only texts the need model cannot place can be a new need; clustering is
            # the costliest step of learning, and texts of known needs are no news.
            event = self.emerging.update(x)
            outcome.emerging += [event] if event else []
        if record.get("priority"):
            self.urgency.learn_one(x, record["priority"])

    def _learn_feedback(self, record: Mapping[str, Any], outcome: LearnOutcome) -> None:
        scale = record["scale"]
        target = (float(record["score"]) - scale["min"]) / (scale["max"] - scale["min"])
        if record.get("comment"):
            comment = from_record({**record, "text": record["comment"]})
            _, drift = self.health.step(self.satisfaction, comment, target)
            outcome.drift += [drift] if drift else []
        # The conversation the feedback closes says as much about satisfaction as the comment.
        closed = self.conversations.get(str(record.get("conversation_id")))
        if closed is not None:
            self.satisfaction.learn_one(closed, target)
        if record.get("need") and closed is not None:
            self.need.learn_one(closed, record["need"])
        outcome.joined = closed is not None or bool(record.get("comment"))

    def _learn_label(self, record: Mapping[str, Any], outcome: LearnOutcome) -> None:
        x = self.examples.get(str(record["event_id"]))
        if x is None:
            outcome.joined = False
            return
        if record.get("need"):
            self.need.learn_one(x, record["need"])
        if record.get("satisfaction") is not None:
            self.satisfaction.learn_one(x, float(record["satisfaction"]))
        if record.get("priority"):
            self.urgency.learn_one(x, record["priority"])

    # -- snapshots ------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """The whole bundle, compressed. Sign it before it leaves the process."""
        return zlib.compress(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL), level=6)

    @classmethod
    def restore(cls, data: bytes) -> ModelBundle:
        """Rebuild a bundle from :meth:`snapshot` (only ever from a verified snapshot)."""
        bundle = pickle.loads(zlib.decompress(data))
        if not isinstance(bundle, cls):
            raise TypeError(f"snapshot holds {type(bundle).__name__}, not {cls.__name__}")
        bundle._watch()
        return bundle
