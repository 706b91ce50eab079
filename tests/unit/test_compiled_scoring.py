"""The compiled batch scorer says what the bundle says (models.compiled, streams.pipeline).

The reference is :meth:`ModelBundle.score` (and :func:`streams.pipeline.with_scores`).
Bundles are trained as the learner trains them, on generated English and Chinese events,
and compared at several states: empty, a handful of examples (uniform probabilities and
ties), a few thousand examples (urgency's learned share on), and with a need class that
appears late. Only genuine near-ties (< 1e-9 apart) may be ordered differently.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pytest

from crmstream.generator import EventGenerator
from models.bundle import ModelBundle, Scores
from models.compiled import (
    CompiledScorer,
    round4,
    urgent_hit_count,
    urgent_phrase_count,
    urgent_phrase_counts,
)
from models.features import Example, from_record
from models.tokenize import han_grams
from models.urgency import CUTS, UrgencyModel
from schemas.events import ScoredCommunication
from streams.model_sync import LiveModel
from streams.pipeline import Edge, EdgeConfig, Incoming, score_batch, with_scores

NEAR = 1e-9
BATCH = 500


def generated(seed: int, count: int, *, zh_share: float = 0.5) -> list[tuple[str, dict[str, Any]]]:
    """``(kind, value)`` of ``count`` generated events (communications and feedback)."""
    events = EventGenerator(seed, zh_share=zh_share, label_share=0.5).events(count)
    return [(e.kind, e.value) for e in events]


def train(bundle: ModelBundle, events: Sequence[tuple[str, dict[str, Any]]]) -> ModelBundle:
    for kind, value in events:
        bundle.learn({"type": kind, "record": value})
    return bundle


def communications(seed: int, count: int) -> list[dict[str, Any]]:
    return [v for kind, v in generated(seed, count) if kind == "communication"]


def in_batches(items: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def compiled_scores(bundle: ModelBundle, records: Sequence[dict[str, Any]]) -> list[Scores]:
    scorer = CompiledScorer.from_bundle(bundle)
    out: list[Scores] = []
    for batch in in_batches(records):
        out += scorer.score_many([from_record(r) for r in batch])
    return out


# -- comparing with the slow path ----------------------------------------------------------


def near_tie(proba: dict[Any, float], a: Any, b: Any) -> bool:
    return a == b or abs(proba.get(a, 0.0) - proba.get(b, 0.0)) < NEAR


def assert_same(bundle: ModelBundle, record: dict[str, Any], fast: Scores) -> None:
    """``fast`` is what ``bundle.score(record)`` says, up to genuine near-ties."""
    slow = bundle.score(record)
    x = from_record(record)
    assert fast.versions == slow.versions

    need_proba = bundle.need.predict_proba_one(x)
    assert near_tie(need_proba, fast.need.label, slow.need.label), (fast.need, slow.need)
    assert math.isclose(fast.need.confidence, slow.need.confidence, rel_tol=0, abs_tol=NEAR)
    assert len(fast.need.top3) == len(slow.need.top3)
    for (label, p), (slow_label, slow_p) in zip(fast.need.top3, slow.need.top3, strict=True):
        assert near_tie(need_proba, label, slow_label), (fast.need.top3, slow.need.top3)
        assert p == slow_p or near_tie(need_proba, label, slow_label)
    if fast.need.label == slow.need.label:
        assert fast.need.terms == slow.need.terms

    sentiment_proba = bundle.satisfaction.predict_proba_one(x)
    assert math.isclose(fast.satisfaction.score, slow.satisfaction.score, abs_tol=NEAR)
    assert near_tie(sentiment_proba, fast.satisfaction.sentiment, slow.satisfaction.sentiment)
    if fast.satisfaction.sentiment == slow.satisfaction.sentiment:
        assert fast.satisfaction.terms == slow.satisfaction.terms

    urgency, slow_urgency = fast.urgency, slow.urgency
    assert math.isclose(urgency.score, slow_urgency.score, abs_tol=NEAR)
    at_a_cut = any(abs(slow_urgency.score - cut) < NEAR for cut in CUTS)
    assert urgency.level == slow_urgency.level or at_a_cut
    assert list(urgency.factors) == list(slow_urgency.factors)
    for name, value in urgency.factors.items():
        assert math.isclose(value, slow_urgency.factors[name], abs_tol=NEAR), name

    assert fast.keywords == slow.keywords


def assert_all_same(bundle: ModelBundle, records: Sequence[dict[str, Any]]) -> None:
    fast = compiled_scores(bundle, records)
    assert len(fast) == len(records)
    for record, scores in zip(records, fast, strict=True):
        assert_same(bundle, record, scores)


# -- bundle states ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def probes() -> list[dict[str, Any]]:
    """Communications to score: generated (English and Chinese) and a few odd ones."""
    odd: list[dict[str, Any]] = [
        {"text": ""},
        {"text": "!!! ... ???"},
        {"text": "12345 67890"},
        {"text": "URGENT!!! need this ASAP, right   now", "channel": "chat"},
        {"text": "紧急！十万火急，马上处理我的退款", "language": "zh", "channel": "phone"},
        {"text": "qwertyuiop zxcvbnm asdfghjkl", "metadata": {"customer_tier": "platinum"}},
        {"text": "refund refund refund delivery delivery", "metadata": {"wait_seconds": 99999}},
    ]
    return odd + communications(seed=11, count=1500)


@pytest.fixture(scope="module")
def trained() -> ModelBundle:
    """A bundle after a few thousand training examples, as the learner learns them."""
    bundle = train(ModelBundle(), generated(seed=5, count=3000))
    assert len(bundle.need.classes) >= 5
    assert bundle.urgency.learned_share > 0  # priority labels past min_labels
    assert bundle.satisfaction.version > 0
    return bundle


def test_empty_bundle(probes: list[dict[str, Any]]) -> None:
    bundle = ModelBundle()
    assert_all_same(bundle, probes)
    first = compiled_scores(bundle, probes[:1])[0]
    assert first.need.label is None and first.need.top3 == []
    assert (first.satisfaction.score, first.satisfaction.sentiment) == (0.5, "neutral")


def test_a_handful_of_examples(probes: list[dict[str, Any]]) -> None:
    """Few, tiny weights: most texts know no weighted term (uniform probabilities, ties in
    River's class order)."""
    bundle = ModelBundle()
    texts = {"refund": "I want my money back", "delivery": "parcel not arrived"}
    for i, (need, text) in enumerate([*texts.items(), ("billing", "charged twice")]):
        record = {"event_id": f"e{i}", "text": text, "direction": "inbound", "need": need}
        bundle.learn({"type": "communication", "record": record})
    bundle.learn(
        {
            "type": "feedback",
            "record": {"score": 2, "scale": {"min": 1, "max": 5}, "comment": "slow and rude"},
        }
    )
    scores = compiled_scores(bundle, probes)
    unknown = scores[5]  # no term any model weighs
    assert [p for _, p in unknown.need.top3] == [0.3333] * 3
    assert [label for label, _ in unknown.need.top3] == ["refund", "delivery", "billing"]
    assert_all_same(bundle, probes)


def test_while_urgency_ramps_up(probes: list[dict[str, Any]]) -> None:
    """Past min_labels priority labels, the learned share grows: prior and learned blend."""
    bundle = train(ModelBundle(), generated(seed=9, count=400))
    assert 0 < bundle.urgency.learned_share < bundle.urgency.max_share
    assert_all_same(bundle, probes)


def test_after_a_few_thousand_examples(trained: ModelBundle, probes: list[dict[str, Any]]) -> None:
    assert_all_same(trained, probes)


def test_a_need_class_appearing_late(trained: ModelBundle, probes: list[dict[str, Any]]) -> None:
    """A class learned after thousands of examples has few weights of its own."""
    bundle = ModelBundle.restore(trained.snapshot())
    texts = [
        "please delete all my personal data",
        "GDPR request: erase my data",
        "删除我的个人数据",
    ]
    for i, text in enumerate(texts):
        record = {"event_id": f"late{i}", "text": text, "direction": "inbound", "need": "privacy"}
        bundle.learn({"type": "communication", "record": record})
    assert bundle.need.classes[-1] == "privacy"
    late = [{"text": t} for t in ("delete my data please", "my personal data, erase it now")]
    assert_all_same(bundle, late + probes)


def test_the_comparison_catches_a_perturbed_scorer(
    trained: ModelBundle, probes: list[dict[str, Any]]
) -> None:
    """The comparison has teeth: a scorer whose need weights are 1% off is caught."""
    scorer = CompiledScorer.from_bundle(trained)
    assert scorer.need is not None
    need = dataclasses.replace(scorer.need, weights=scorer.need.weights * 1.01)
    perturbed = dataclasses.replace(scorer, need=need)
    records = probes[:BATCH]
    fast = perturbed.score_many([from_record(r) for r in records])
    caught = 0
    for record, scores in zip(records, fast, strict=True):
        try:
            assert_same(trained, record, scores)
        except AssertionError:
            caught += 1
    assert caught > len(records) // 2


def test_the_naive_bayes_part_is_scored_as_the_satisfaction_model_scores_it(
    probes: list[dict[str, Any]],
) -> None:
    """With a heavy naive Bayes weight (it decides many sentiments), the compiled scorer
    still says what the model says; without its naive Bayes matrix, it would not."""
    bundle = train(ModelBundle(), generated(seed=7, count=1500))
    bundle.satisfaction.nb_weight = 1.0
    assert_all_same(bundle, probes)
    scorer = CompiledScorer.from_bundle(bundle)
    assert scorer.naive_bayes is not None
    examples = [from_record(r) for r in probes[:BATCH]]
    slow = [bundle.satisfaction.predict_one(x).sentiment for x in examples]
    assert [s.satisfaction.sentiment for s in scorer.score_many(examples)] == slow
    without = dataclasses.replace(scorer, naive_bayes=None).score_many(examples)
    assert sum(s.satisfaction.sentiment != y for s, y in zip(without, slow, strict=True)) > 10


def test_text_with_han_and_text_with_cues_are_scored_as_the_model_scores_them(
    probes: list[dict[str, Any]],
) -> None:
    """Chinese text has its own naive Bayes weight, and English text with negations or
    punctuation cues its own terms: the compiled scorer follows both, and a scorer that
    weighed all text alike, or read no cues, would not."""
    bundle = train(ModelBundle(), generated(seed=7, count=1500))
    for text, label in [("not good!", "negative"), ("is it on time?", "neutral")] * 30:
        bundle.satisfaction.learn_one(Example(text), label)
    bundle.satisfaction.nb_weight, bundle.satisfaction.nb_weight_han = 0.0, 1.0
    extra = [{"text": t} for t in ("not good", "not good!", "on time?", "on time", "坏了！")]
    records = [*extra, *probes]
    model = bundle.satisfaction
    examples = [from_record(r) for r in records[:BATCH]]
    assert sum(model.terms(x) is not x.tokens and not han_grams(x.text) for x in examples) > 20
    assert_all_same(bundle, records)
    scorer = CompiledScorer.from_bundle(bundle)
    slow = [model.predict_one(x).sentiment for x in examples]
    assert scorer.naive_bayes is not None
    alike = dataclasses.replace(scorer.naive_bayes, weight_han=scorer.naive_bayes.weight)
    for wrong in (
        dataclasses.replace(scorer, naive_bayes=alike),
        dataclasses.replace(scorer, cues=False),
    ):
        fast = wrong.score_many(examples)
        assert sum(s.satisfaction.sentiment != y for s, y in zip(fast, slow, strict=True)) > 3


def test_compiling_leaves_the_bundle_alone(trained: ModelBundle) -> None:
    before = trained.snapshot()
    CompiledScorer.from_bundle(trained).score_many([Example("where is my refund")])
    assert trained.snapshot() == before


def test_empty_batch(trained: ModelBundle) -> None:
    assert CompiledScorer.from_bundle(trained).score_many([]) == []


# -- the scored records ------------------------------------------------------------------------


def edge_records(seed: int, count: int) -> list[ScoredCommunication]:
    """Communications as the worker scores them: checked and cleaned by the edge."""
    values = communications(seed, count)
    messages = [
        Incoming(orjson.dumps(v), None, "crm.communications", 0, i) for i, v in enumerate(values)
    ]
    result = Edge(EdgeConfig()).communications(messages, now=datetime.now(UTC))
    assert not result.dead
    return [a.record for a in result.accepted]


@pytest.mark.parametrize("state", ["empty", "trained"])
def test_score_batch_is_with_scores(state: str, trained: ModelBundle) -> None:
    bundle = trained if state == "trained" else ModelBundle()
    records = edge_records(seed=23, count=1200)
    assert any(r.need for r in records) and any(not r.need for r in records)
    scorer = CompiledScorer.from_bundle(bundle)
    fast = [r for batch in in_batches(records) for r in score_batch(batch, scorer)]
    assert fast == [with_scores(r, bundle) for r in records]


def test_score_batch_catches_a_perturbed_scorer(trained: ModelBundle) -> None:
    records = edge_records(seed=23, count=300)
    scorer = CompiledScorer.from_bundle(trained)
    assert scorer.need is not None
    need = dataclasses.replace(scorer.need, weights=scorer.need.weights * 1.01)
    fast = score_batch(records, dataclasses.replace(scorer, need=need))
    slow = [with_scores(r, trained) for r in records]
    assert sum(a != b for a, b in zip(fast, slow, strict=True)) > len(records) // 2


def test_live_model_compiles_on_swap(trained: ModelBundle) -> None:
    live = LiveModel()
    assert live.scorer.versions == ModelBundle().versions
    live.swap(trained)
    assert live.version == trained.version and live.scorer.versions == trained.versions
    live.swap(ModelBundle())  # older: ignored
    assert live.scorer.versions == trained.versions


# -- the pieces ----------------------------------------------------------------------------------


def test_round4_is_pythons_round() -> None:
    rng = np.random.default_rng(7)
    values = np.concatenate(
        [
            rng.uniform(-2, 2, 100_000),
            rng.exponential(1e-4, 10_000),
            # decimal halves at the 5th place and their neighbours
            np.arange(-20_000, 20_000) / 1e4 + 0.00005,
            np.nextafter(np.arange(0, 10_000) / 1e4 + 0.00005, 1.0),
            np.nextafter(np.arange(0, 10_000) / 1e4 + 0.00005, 0.0),
            rng.uniform(-1e5, 1e5, 10_000),
            [0.0, -0.0, 1e15, -3e13, 123456.78915, np.inf, -np.inf, np.nan],
        ]
    )
    expected = [round(float(v), 4) for v in values]
    assert [str(v) for v in round4(values)] == [str(v) for v in expected]  # nan != nan


def test_urgent_hits_are_the_urgency_models() -> None:
    texts = [e["text"] for e in communications(seed=3, count=800)]
    phrases = ["as soon as possible", "can't  wait", "Right\nAway", "十万火急", "紧急加急", "İ", ""]
    rng = random.Random(1)
    texts += [" ".join(rng.sample(phrases, 3)) + " asap" for _ in range(50)]
    for text in texts:
        x = Example(text)
        assert urgent_hit_count(x) == len(UrgencyModel.urgent_hits(x)), text
    for batch in (texts[:400], texts[-100:], [texts[-1], "İstanbul: right now!"]):
        assert urgent_phrase_counts(batch) == [urgent_phrase_count(t) for t in batch]
