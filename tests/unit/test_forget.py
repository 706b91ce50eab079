"""Forget requests (streams.forget): the records, and the learner dropping its examples."""

from __future__ import annotations

from models.bundle import ModelBundle
from schemas.events import LabelEvent
from streams.forget import Forget, after_last_forget, or_forget, training_forget
from streams.training import learn_message, pack_training


def learned() -> ModelBundle:
    """A learner's bundle that has seen two customers' inbound communications."""
    bundle = ModelBundle()
    records = [
        {"event_id": "e1", "conversation_id": "k1", "text": "Where is my refund?",
         "language": "en", "channel": "email", "direction": "inbound", "metadata": {}},
        {"event_id": "e2", "conversation_id": "k2", "text": "My card was charged twice",
         "language": "en", "channel": "chat", "direction": "inbound", "metadata": {}},
    ]  # fmt: skip
    bundle.learn_batch("communication", records)
    assert {"e1", "e2"} <= set(bundle.examples) and "k1" in bundle.conversations
    return bundle


def test_the_learner_forgets_the_examples_and_a_later_label_no_longer_joins() -> None:
    bundle = learned()
    version = bundle.version
    outcome = learn_message(bundle, training_forget("r1", ["e1", "missing"], ["k1"]))
    assert outcome.forgotten == {"r1": 2}
    assert bundle.version == version + 1
    assert "e1" not in bundle.examples and "k1" not in bundle.conversations
    assert "e2" in bundle.examples  # another customer's example stays
    label = pack_training("label", [LabelEvent(event_id="e1", need="refund", labelled_by="a")])
    assert learn_message(bundle, label[0]).unjoined == 1


def test_a_forget_holds_across_snapshots_whose_memories_are_apart() -> None:
    """The memories are pickled apart from the models (ModelBundle.snapshot): a learner
    resuming from a snapshot taken after the forget does not get the examples back, and
    one resuming from an older snapshot forgets them again when it re-learns the message."""
    bundle = learned()
    before = bundle.snapshot()
    forget = training_forget("r1", ["e1"], ["k1"])
    learn_message(bundle, forget)
    after = ModelBundle.restore(bundle.snapshot())  # the learner: memories too
    assert "e1" not in after.examples and "k1" not in after.conversations
    assert "e2" in after.examples and "k2" in after.conversations
    resumed = ModelBundle.restore(before)
    assert "e1" in resumed.examples  # the snapshot predates the request...
    assert learn_message(resumed, forget).forgotten == {"r1": 2}  # ...which comes again
    assert list(resumed.examples) == list(after.examples)
    assert list(resumed.conversations) == list(after.conversations)
    # A scorer restores no memories: a forget message finds nothing there, and fails nothing.
    scorer = ModelBundle.restore(bundle.snapshot(), memories=False)
    assert learn_message(scorer, forget).forgotten == {"r1": 0}


def test_records_before_a_forget_are_dropped_with_the_state() -> None:
    decode = or_forget(int)
    items = [decode(r) for r in ("1", {"forget": "r1", "key": "c1", "customer_id": "c1"}, "2")]
    assert items == [1, Forget("r1", "c1", "c1"), 2]
    assert after_last_forget(items) == (Forget("r1", "c1", "c1"), [2])
    assert after_last_forget([1, 2]) == (None, [1, 2])
