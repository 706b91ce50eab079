"""Training messages packed per worker batch: read back whole, and learned into the same
models as the same examples one message each (River's own code as the reference)."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import BaseModel
from river import linear_model, optim

import models.bundle
from crmstream.generator import EventGenerator
from models.balancing import set_softmax_rate
from models.bundle import EMERGING_KNOWN_SAMPLE, EMERGING_SAMPLE, ModelBundle, tight_softmax
from models.emerging import EmergingNeeds
from models.features import Example, from_record
from models.keywords import document_frequencies
from models.satisfaction import SatisfactionModel
from models.softmax import DenseSoftmax
from schemas.events import CommunicationEvent, LabelEvent, ScoredCommunication
from streams.pipeline import Edge, EdgeConfig, Incoming, training_example, with_scores
from streams.training import FORMAT, learn_message, pack_training, packed_records
from tests.unit.test_models_emerging import BACKGROUND, BURST
from tests.unit.test_softmax import need_stream, young_classes

NOW = datetime(2026, 3, 1, tzinfo=UTC)
Batch = tuple[str, list[BaseModel]]


def worker_batches(seed: int, count: int, size: int = 100) -> Iterator[tuple[Batch, Batch]]:
    """Generated events through the edge in worker batches: (communications, feedback),
    the communications scored by a model that learns as it goes, as a worker's does."""
    edge = Edge(EdgeConfig())
    scorer = ModelBundle()
    events = list(
        EventGenerator(seed, label_share=0.5, start=NOW - timedelta(days=20)).events(count)
    )
    for start in range(0, len(events), size):
        chunk = list(enumerate(events[start : start + size], start))
        raw = [
            Incoming(orjson.dumps(e.value), e.key.encode(), f"crm.{e.kind}", 0, offset)
            for offset, e in chunk
        ]
        accepted = edge.communications([m for m in raw if m.topic == "crm.communication"], now=NOW)
        scored: list[BaseModel] = [with_scores(a.record, scorer) for a in accepted.accepted]
        for record in scored:
            scorer.learn(training_example("communication", record))
        checked = edge.feedback([m for m in raw if m.topic == "crm.feedback"], now=NOW)
        yield ("communication", scored), ("feedback", [a.record for a in checked.accepted])


def label_batch(batch: Batch, rng: random.Random) -> Batch:
    """Corrections for some of a batch's communications (and one for an unknown event)."""
    labels: list[BaseModel] = [LabelEvent(event_id="never-seen", need="refund", labelled_by="a1")]
    needs = ["refund", "delivery", "billing", "complaint"]
    for record in batch[1]:
        if rng.random() < 0.2:
            labels.append(
                LabelEvent(
                    event_id=record.event_id,  # type: ignore[attr-defined]
                    need=rng.choice(needs),
                    priority=rng.choice(["P1", "P2", "P3", "P4"]),
                    satisfaction=round(rng.random(), 3),
                    labelled_by="a1",
                )
            )
    return "label", labels


def stream(seed: int, count: int) -> list[Batch]:
    rng = random.Random(seed)
    batches: list[Batch] = []
    for communications, feedback in worker_batches(seed, count):
        batches += [communications, feedback, label_batch(communications, rng)]
    return [b for b in batches if b[1]]


def model_state(bundle: ModelBundle) -> dict[str, Any]:
    """Everything the need, satisfaction, urgency and keyword models learned, and their health."""

    def softmax(model: Any) -> dict[str, Any]:
        if isinstance(model, DenseSoftmax):
            terms, matrix = list(model.terms), model.matrix().tolist()
            return {"labels": model.labels, "terms": terms, "matrix": matrix}
        return {
            "weights": {label: dict(w) for label, w in model.weights.items()},
            "order": [list(w) for w in model.weights.values()],
            "iterations": {label: o.n_iterations for label, o in model.optimizers.items()},
        }

    need, satisfaction, urgency = bundle.need, bundle.satisfaction, bundle.urgency
    return {
        "need": softmax(need.classifier),
        "need_counts": need.class_counts,
        "need_df": (dict(need.tfidf.df), need.tfidf.n),
        "sentiment": softmax(satisfaction.sentiment),
        "levels": softmax(satisfaction.levels),
        "satisfaction_df": (dict(satisfaction.tfidf.df), satisfaction.tfidf.n),
        "satisfaction_counts": (satisfaction.n_labels, satisfaction.n_scores),
        "urgency": (dict(urgency.regressor.weights), urgency.regressor.intercept),
        "keywords": (dict(bundle.keywords.tfidf.df), bundle.keywords.tfidf.n),
        "versions": {k: v for k, v in bundle.versions.items() if k != "bundle"},
        "health": bundle.health.report(),
    }


@pytest.fixture
def river_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models.bundle, "TIGHT_SOFTMAX", False)


def one_by_one(batches: Sequence[Batch]) -> ModelBundle:
    """The reference: one example per message, River's own softmax code."""
    tight = models.bundle.TIGHT_SOFTMAX
    models.bundle.TIGHT_SOFTMAX = False
    try:
        bundle = ModelBundle()
        for kind, records in batches:
            for record in records:
                bundle.learn(orjson.loads(orjson.dumps(training_example(kind, record))))
        return bundle
    finally:
        models.bundle.TIGHT_SOFTMAX = tight


@pytest.fixture(scope="module")
def generated() -> list[Batch]:
    return stream(seed=4, count=2400)


def test_packed_messages_learn_the_same_models_as_one_example_each(
    generated: list[Batch],
) -> None:
    reference = one_by_one(generated)
    packed = ModelBundle()
    messages = [value for kind, records in generated for value in pack_training(kind, records)]
    for value in messages:
        learn_message(packed, value)
    assert len(messages) == len(generated)  # one message per batch at this size
    assert packed.version == len(messages)
    assert reference.version == sum(len(records) for _, records in generated)
    assert reference.need.version > 200 and reference.satisfaction.version > 100  # learned a lot
    packed_state, reference_state = model_state(packed), model_state(reference)
    # The need health differs by design: packed, it scores the worker's predictions.
    assert packed_state["health"].pop("need") != reference_state["health"].pop("need")
    assert packed_state == reference_state
    # The joins found the same communications (the label for "never-seen" found none).
    assert list(packed.examples) == list(reference.examples)
    assert list(packed.conversations) == list(reference.conversations)


def test_the_need_health_scores_what_the_worker_predicted(generated: list[Batch]) -> None:
    """Packed, a labelled text is not predicted again by the learner: its health monitor
    scores the prediction the worker served (the first of ``need_top3``) against the label."""
    packed = ModelBundle()
    for kind, records in generated:
        for value in pack_training(kind, records):
            learn_message(packed, value)
    served = ModelBundle().health  # the same monitors, fed by hand
    labelled = guessed = 0
    for kind, records in generated:
        for record in records:
            if kind == "communication" and record.need_source == "label":  # type: ignore[attr-defined]
                assert record.direction.value == "inbound"  # type: ignore[attr-defined]
                top3 = record.need_top3  # type: ignore[attr-defined]
                predicted = top3[0].label if top3 else None
                version = record.model_versions["need"]  # type: ignore[attr-defined]
                served.observe("need", record.need, predicted, version)  # type: ignore[attr-defined]
                labelled += 1
                guessed += predicted is not None
    assert labelled > 100 and guessed > labelled / 2
    assert packed.health.report()["need"] == served.report()["need"]
    assert packed.health.report()["need"]["n"] == labelled


def test_messages_split_under_the_size_limit_learn_the_same(generated: list[Batch]) -> None:
    kind, records = generated[0]
    [whole] = pack_training(kind, records)
    parts = pack_training(kind, records, max_bytes=len(whole) // 5)
    assert len(parts) > 5
    assert all(len(p) <= len(whole) // 5 for p in parts)
    decoded = [orjson.loads(p) for p in parts]
    assert [r for d in decoded for r in d["records"]] == orjson.loads(whole)["records"]
    one, split = ModelBundle(), ModelBundle()
    learn_message(one, whole)
    for part in parts:
        learn_message(split, part)
    assert model_state(one) == model_state(split)
    assert split.version == len(parts)


def test_a_packed_message_carries_what_the_worker_computed(generated: list[Batch]) -> None:
    kind, records = next(b for b in generated if b[0] == "communication")
    [value] = pack_training(kind, records)
    message = orjson.loads(value)
    assert message["v"] == FORMAT and message["type"] == "communication"
    sent = message["records"]
    assert [r["event_id"] for r in sent] == [r.event_id for r in records]  # type: ignore[attr-defined]
    inbound = [r for r in sent if r["direction"] == "inbound"]
    for got, record in zip(sent, records, strict=True):
        assert isinstance(record, ScoredCommunication)
        expected = training_example(kind, record)["record"]
        worker = ("tokens", "confidence", "need_top3", "predicted", "predicted_version")
        served = ("served_need", "served_satisfaction")
        assert {k: v for k, v in got.items() if k not in worker + served} == expected
        if record.direction.value == "inbound":
            assert got["tokens"] == from_record(expected).tokens
        # A priority is learned in the context the worker scored the record in.
        if record.direction.value == "inbound" and record.priority:
            assert (got["served_need"], got["served_satisfaction"]) == (
                record.need,
                record.satisfaction,
            )
        else:
            assert not set(served) & set(got)
        # Only a person's label is a label; the model's guess is not sent as one.
        if record.need_source == "model":
            assert got["need"] is None and got["confidence"] == record.need_confidence
            assert got["need_top3"] == [[c.label, c.confidence] for c in record.need_top3]
        elif record.need_source == "label":
            assert got["need"] == record.need and "confidence" not in got
            top3 = record.need_top3
            assert got["predicted"] == (top3[0].label if top3 else None)
            assert got["predicted_version"] == record.model_versions["need"]
    terms, documents = document_frequencies(r["tokens"] for r in inbound)
    assert message["df"] == {"documents": documents, "terms": terms}
    assert any(r.get("confidence") is not None for r in inbound)


def test_feedback_comments_come_tokenized(generated: list[Batch]) -> None:
    kind, records = next(b for b in generated if b[0] == "feedback")
    packed = packed_records(kind, records)
    commented = [p for p in packed if p.get("comment")]
    assert commented
    for p in commented:
        assert p["tokens"] == Example(p["comment"], language=p.get("language")).tokens


def test_the_old_single_example_message_is_still_learned(generated: list[Batch]) -> None:
    old, new = ModelBundle(), ModelBundle()
    for kind, records in generated[:30]:
        for record in records:
            example = training_example(kind, record)
            outcome = learn_message(old, orjson.dumps(example))
            assert outcome.learned == 1
            new.learn(example)
    assert old.version == new.version == sum(len(r) for _, r in generated[:30])
    assert model_state(old) == model_state(new)


@pytest.mark.parametrize(
    "value", [b"{oops", b"[]", b'{"v": 99, "type": "label", "records": []}', b'{"v": 2}']
)
def test_unreadable_messages_are_a_value_error(value: bytes) -> None:
    with pytest.raises(ValueError, match="training message"):
        learn_message(ModelBundle(), value)


def test_a_bad_record_costs_itself_not_its_batch() -> None:
    good = {"event_id": "e1", "text": "refund please", "direction": "inbound", "need": "refund"}
    bundle = ModelBundle()
    bundle.learn_batch("communication", [good], None)
    feedback = [
        {"event_id": "f1", "score": 1, "scale": {"min": 1, "max": 1}, "comment": "bad"},
        {"event_id": "f2", "score": 5, "scale": {"min": 1, "max": 5}, "comment": "great"},
    ]
    outcome = bundle.learn_batch("feedback", feedback)
    assert (outcome.learned, outcome.failed) == (2, 1)
    assert bundle.satisfaction.version == 1 and bundle.version == 2


def test_a_scored_record_s_guess_is_never_a_label() -> None:
    scorer = ModelBundle()
    for i in range(10):
        scorer.learn(
            {
                "type": "communication",
                "record": {"event_id": f"e{i}", "text": "money back", "direction": "inbound",
                           "need": "refund"},
            }
        )  # fmt: skip
    event = CommunicationEvent(
        event_id="x", occurred_at=NOW, customer_id="c", channel="chat", direction="inbound",
        text="I want my money back",
    )  # fmt: skip
    record = ScoredCommunication(
        **event.model_dump(),
        processed_at=NOW,
        source={"topic": "t", "partition": 0, "offset": 0},
        text_info={"original_chars": 20, "truncated": False},
    )
    scored = with_scores(record, scorer)
    assert scored.need == "refund" and scored.need_source == "model"
    assert training_example("communication", scored)["record"]["need"] is None
    assert training_example("communication", record)["record"]["need"] is None


# -- the emerging-need sample ----------------------------------------------------------

# The same background topics and burst as the emerging-need model's own tests.


def unlabelled(n: int, rng: random.Random, words: Sequence[list[str]], prefix: str) -> list[Any]:
    return [
        CommunicationEvent(
            event_id=f"{prefix}{i}",
            occurred_at=NOW,
            customer_id="c",
            channel="chat",
            direction="inbound",
            text=" ".join(rng.sample(rng.choice(words), 5)),
        )
        for i in range(n)
    ]


def small_vocabulary_bundle() -> ModelBundle:
    """A bundle whose detector keeps frequent terms: the test topics have 8 words each."""
    bundle = ModelBundle()
    bundle.emerging = EmergingNeeds(max_df=1.0)
    return bundle


def test_clustering_is_bounded_per_message() -> None:
    rng = random.Random(1)
    bundle = small_vocabulary_bundle()
    records = [
        training_example("communication", r)["record"]
        for r in unlabelled(300, rng, BACKGROUND, "e")
    ]
    bundle.learn_batch("communication", records)
    assert bundle.emerging.version == EMERGING_SAMPLE  # of 300 unlabelled texts
    labelled = [{**r, "event_id": f"l{i}", "need": "refund"} for i, r in enumerate(records)]
    bundle.learn_batch("communication", labelled + records)
    assert bundle.emerging.version == 2 * EMERGING_SAMPLE + EMERGING_KNOWN_SAMPLE
    assert bundle.emerging.documents == 900  # every text is counted
    assert len(bundle.examples) == 600 and bundle.keywords.version == 900


def test_the_sample_is_the_same_on_every_replay() -> None:
    rng = random.Random(2)
    messages = pack_training("communication", unlabelled(120, rng, BACKGROUND, "e"))
    first, second = small_vocabulary_bundle(), small_vocabulary_bundle()
    for value in messages:
        learn_message(first, value)
        learn_message(second, value)
    clusters = [{k: c.size for k, c in b.emerging.clusters.items()} for b in (first, second)]
    assert clusters[0] == clusters[1] and first.emerging.version == EMERGING_SAMPLE


def test_a_new_topic_is_still_found_in_the_sample() -> None:
    rng = random.Random(7)
    bundle = small_vocabulary_bundle()
    needs = ["delivery", "refund", "billing", "access"]
    events = []
    for start in range(0, 6000, 100):
        batch = []
        for i in range(100):
            n = start + i
            new = start >= 3000 and i % 20 == 0  # 5 % of the traffic, from the middle
            topic = rng.randrange(len(BACKGROUND))
            record = CommunicationEvent(
                event_id=f"t{n}",
                occurred_at=NOW + timedelta(minutes=n),
                customer_id="c",
                channel="chat",
                direction="inbound",
                text=" ".join(rng.sample(BURST if new else BACKGROUND[topic], 5)),
                need=None if new or n % 2 else needs[topic],
            )
            batch.append(record)
        for value in pack_training("communication", batch):
            events += learn_message(bundle, value).emerging
    assert len(events) == 1 and events[0].trigger == "new"
    assert set(events[0].top_terms) <= set(BURST) and len(events[0].top_terms) >= 3
    assert all(
        e["event_id"] in {f"t{n}" for n in range(3000, 6000, 20)} for e in events[0].examples
    )


# -- River's softmax step, tighter ------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "l2"),
    [(need_stream(3, 1500), 0.0), (need_stream(3, 1500), 0.01), (young_classes(11), 0.0)],
    ids=["needs", "needs-l2", "young-classes"],
)
def test_the_tight_softmax_step_gives_river_s_weights(
    stream: list[tuple[dict[str, float], str, float]], l2: float
) -> None:
    """Many classes, class-balanced steps, classes younger than the text (River then sums
    the class's few weights in their order): the tight step learns River's weights."""
    river, tight = (linear_model.SoftmaxRegression(optimizer=optim.SGD(1.0), l2=l2) for _ in "ab")
    river_proba: list[dict[Any, float]] = []
    tight_proba: list[dict[Any, float]] = []
    for vector, need, rate in stream:
        for model, seen in ((river, river_proba), (tight, tight_proba)):
            set_softmax_rate(model, rate)
            with tight_softmax([model] if model is tight else []):
                seen.append(dict(model.predict_proba_one(vector)))
                model.learn_one(vector, need)
    assert tight_proba == river_proba
    weights = [{k: dict(v) for k, v in m.weights.items()} for m in (river, tight)]
    assert weights[0] == weights[1] and len(weights[0]) > 3
    assert len({o.learning_rate for o in tight.optimizers.values()}) == 1
    assert "learn_one" not in vars(tight)  # nothing left on the instance


def test_the_tight_softmax_step_gives_river_s_satisfaction_model() -> None:
    rows = [e.value for e in EventGenerator(5).events(1500) if e.kind == "feedback"]
    river, tight = SatisfactionModel(), SatisfactionModel()
    for model in (river, tight):
        with tight_softmax([model.sentiment, model.levels] if model is tight else []):
            for row in rows:
                scale = row["scale"]
                score = (row["score"] - scale["min"]) / (scale["max"] - scale["min"])
                model.learn_one(Example(row.get("comment") or "ok"), score)
    for attribute in ("sentiment", "levels"):
        a, b = getattr(river, attribute), getattr(tight, attribute)
        assert {k: dict(v) for k, v in a.weights.items()} == {
            k: dict(v) for k, v in b.weights.items()
        }


def test_other_optimizers_keep_river_s_code() -> None:
    adam = linear_model.SoftmaxRegression(optimizer=optim.Adam())
    with tight_softmax([adam]):
        assert "learn_one" not in vars(adam)


def test_river_only_reference_switch_is_honoured(river_only: None) -> None:
    satisfaction = SatisfactionModel()
    with tight_softmax([satisfaction.sentiment]):
        assert "learn_one" not in vars(satisfaction.sentiment)


def test_urgency_learns_with_the_need_and_satisfaction_it_is_scored_with(
    generated: list[Batch],
) -> None:
    """The urgency regression's need feature: the served (or labelled) need, as when it
    scores, not "unknown" for every example it learns."""
    bundle = ModelBundle()
    for kind, records in generated:
        for value in pack_training(kind, records):
            learn_message(bundle, value)
    assert bundle.urgency.version > 0
    needs = {k for k in bundle.urgency.regressor.weights if k.startswith("need=")}
    assert needs - {"need=?"}, needs
