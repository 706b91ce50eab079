"""Customer profiles and segments (streams.profiles): idempotent folding, the means, the
segments' purity against the generator's archetypes and their stability."""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from crmstream.generator import ARCHETYPES, EventGenerator, GeneratedEvent
from streams.profiles import (
    DAY_MS,
    Contact,
    ProfileConfig,
    Segmenter,
    SegmentHistory,
    contact_count,
    features,
    fold,
    purity,
    recent_urgency,
    summary,
)

CONFIG = ProfileConfig()


def inbound(offset: int, at_ms: int, **kw: object) -> Contact:
    fields: dict[str, object] = {"channel": "chat", "direction": "inbound", **kw}
    return Contact("c1", "communications:0", offset, at_ms, **fields)  # type: ignore[arg-type]


def test_contacts_read_again_are_not_counted_twice() -> None:
    contacts = [
        inbound(1, 1000, need="refund", satisfaction=0.2, conversation_id="k1", event_id="e1"),
        inbound(2, 2000, need="billing", satisfaction=0.6, conversation_id="k1", event_id="e2"),
        Contact("c1", "feedback:3", 5, 3000, rating=0.8, event_id="f1"),
    ]
    once, applied = fold(None, contacts, CONFIG)
    assert applied == 3
    expected = copy.deepcopy(once)
    # The same messages again (a restart), alone, mixed and shuffled: nothing changes.
    again, applied = fold(once, reversed(contacts), CONFIG)
    assert applied == 0 and again == expected
    # The same events sent again at new offsets (a file replayed twice): nothing changes
    # but the offsets folded in.
    replayed = [Contact(**{**c.to_dict(), "offset": c.offset + 100}) for c in contacts]
    again, applied = fold(again, replayed, CONFIG)
    assert applied == 0
    assert again["needs"] == {"refund": 1, "billing": 1}
    assert again["folded"] == {"communications:0": 102, "feedback:3": 105}


def test_a_new_contact_counts_once_whatever_the_order_in_its_batch() -> None:
    first = [inbound(3, 3000, event_id="a"), inbound(1, 1000, event_id="b")]
    profile, applied = fold(None, first, CONFIG)
    assert applied == 2
    profile, applied = fold(profile, [inbound(2, 2000, event_id="c")], CONFIG)
    # Offset 2 is below offset 3 folded from the same partition: already counted.
    assert applied == 0 and contact_count(profile) == 2


def test_long_run_and_recent_means() -> None:
    values = [0.9, 0.9, 0.9, 0.1, 0.1]
    contacts = [inbound(i, 1000 * i, satisfaction=v) for i, v in enumerate(values)]
    profile, _ = fold(None, contacts, ProfileConfig(recent_alpha=0.5))
    document = summary(profile, CONFIG)
    assert document["satisfaction_predicted_mean"] == pytest.approx(0.58)
    # Recent: 0.9 then halfway to 0.1 twice.
    assert document["satisfaction_predicted_recent"] == pytest.approx(0.3)
    assert document["satisfaction_rated_mean"] is None


def test_recent_urgency_forgets_days_past_the_window() -> None:
    config = ProfileConfig(urgency_days=7)
    profile, _ = fold(
        None, [inbound(1, 0, urgency=0.9), inbound(2, 3 * DAY_MS, urgency=0.4)], config
    )
    assert recent_urgency(profile, config) == 0.9
    profile, _ = fold(profile, [inbound(3, 8 * DAY_MS, urgency=0.2)], config)
    assert recent_urgency(profile, config) == 0.4


def test_open_conversations_close_on_a_reply_or_a_rating_and_stay_bounded() -> None:
    config = ProfileConfig(max_open=3)
    asks = [inbound(i, 1000 * i, conversation_id=f"k{i}") for i in range(5)]
    profile, _ = fold(None, asks, config)
    assert sorted(profile["open"]) == ["k2", "k3", "k4"]  # the newest three
    reply = Contact("c1", "communications:0", 10, 9000, channel="chat", direction="outbound",
                    conversation_id="k3")  # fmt: skip
    rating = Contact("c1", "feedback:0", 1, 9500, rating=1.0, conversation_id="k4")
    profile, _ = fold(profile, [reply, rating], config)
    assert summary(profile, config)["open_conversations"] == 1
    assert profile["contacts"] == {"chat:inbound": 5, "chat:outbound": 1}


def test_the_document_has_every_field_of_the_index_template() -> None:
    from config.settings import Settings
    from streams.search_index import CUSTOMERS_ALIAS, index_template

    profile, _ = fold(None, [inbound(1, 1000, need="refund", satisfaction=0.5)], CONFIG)
    document = summary(profile, CONFIG, "mostly refund")
    mapped = index_template(Settings(), CUSTOMERS_ALIAS)["template"]["mappings"]["properties"]
    assert set(document) == set(mapped)
    assert document["first_contact"] == "1970-01-01T00:00:01.000+00:00"


def test_the_configuration_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "customers.yml"
    path.write_text(
        "segments:\n  count: 6\n  warmup: 60\n"
        "  features: {channels: {weight: 2, values: [phone, email]}}\n"
        "state: {idle: 2d, update_every: 30s}\n"
    )
    config = ProfileConfig.load(path)
    assert (config.segments, config.warmup, config.idle_ms) == (6, 60, 2 * DAY_MS)
    assert config.update_every_s == 30.0
    assert [(f.name, f.weight, f.values) for f in config.features] == [
        ("channels", 2.0, ("phone", "email"))
    ]
    path.write_text("segments: {features: {age: {}}}\n")
    with pytest.raises(ValueError, match="unknown segment features"):
        ProfileConfig.load(path)
    path.write_text("state: {update_every: 0s}\n")
    with pytest.raises(ValueError, match="update_every must be positive"):
        ProfileConfig.load(path)


def contact_of(event: GeneratedEvent, offset: int) -> Contact:
    """What the worker makes of a generated event (the label as the need, where given)."""
    value = event.value
    at_ms = int(datetime.fromisoformat(value["occurred_at"]).timestamp() * 1000)
    common = {"event_id": value["event_id"], "conversation_id": value.get("conversation_id")}
    if event.kind == "feedback":
        low, high = value["scale"]["min"], value["scale"]["max"]
        rating = (value["score"] - low) / (high - low)
        return Contact(event.key, "feedback:0", offset, at_ms, rating=rating, **common)
    return Contact(
        event.key,
        "communications:0",
        offset,
        at_ms,
        channel=value["channel"],
        direction=value["direction"],
        need=value.get("need"),
        **common,
    )


def run_segments(
    generator: EventGenerator, events: int, config: ProfileConfig
) -> tuple[dict[str, dict[str, Any]], Segmenter, SegmentHistory]:
    """Fold generated events one by one, as the profile agent does, placing customers."""
    segmenter, history = Segmenter(config), SegmentHistory()
    profiles: dict[str, dict[str, Any]] = {}
    for offset, event in enumerate(generator.events(events)):
        contact = contact_of(event, offset)
        profile, _ = fold(profiles.get(contact.customer_id), [contact], config)
        profiles[contact.customer_id] = profile
        if contact_count(profile) >= config.min_contacts:
            profile["segment"] = segmenter.update(
                contact.customer_id, profile["segment"], features(profile, config)
            )
            history.record(contact.customer_id, profile["segment"])
    return profiles, segmenter, history


@pytest.mark.parametrize("seed", [1, 2])
def test_segments_recover_the_archetypes_and_stay_put(seed: int) -> None:
    config = ProfileConfig.load()  # the configured number of segments and features
    assert config.segments == len(ARCHETYPES)
    generator = EventGenerator(seed=seed, customers=200, archetypes=ARCHETYPES)
    profiles, segmenter, history = run_segments(generator, 12_000, config)
    truth = {customer: generator.archetype_of(customer) or "" for customer in profiles}
    assigned = {customer: p["segment"] for customer, p in profiles.items()}
    assert purity(assigned, truth) >= 0.8
    # A customer's segment does not change on most messages (here: on almost none).
    assert history.updates > 5000
    assert history.changes / history.updates < 0.02
    descriptions = {segmenter.describe(s) for s in segmenter.ids()}
    assert any(d.startswith("mostly refund and billing") and "phone" in d for d in descriptions)
    assert any("complaint" in d and "social" in d for d in descriptions)


def test_restored_segments_keep_their_numbers() -> None:
    config = ProfileConfig.load()
    generator = EventGenerator(seed=3, customers=120, archetypes=ARCHETYPES)
    profiles, _, _ = run_segments(generator, 6000, config)
    restored = Segmenter(config)
    restored.restore(
        (c, p["segment"], features(p, config))
        for c, p in profiles.items()
        if contact_count(p) >= config.min_contacts
    )
    assert restored.ready
    kept = [
        restored.update(c, p["segment"], features(p, config)) == p["segment"]
        for c, p in profiles.items()
        if p["segment"] is not None
    ]
    assert sum(kept) / len(kept) > 0.95


def test_no_segment_before_enough_profiles_were_seen() -> None:
    segmenter = Segmenter(ProfileConfig(segments=2, warmup=3))
    assert segmenter.update("a", None, {"x": 0.0}) is None
    assert segmenter.update("a", None, {"x": 0.1}) is None  # the same customer again
    assert segmenter.update("b", None, {"x": 1.0}) is None
    third = segmenter.update("c", None, {"x": 0.9})
    assert segmenter.ready and third is not None
    assert segmenter.update("a", None, {"x": 0.0}) != segmenter.update("b", None, {"x": 1.0})


def test_the_warm_up_customers_are_placed_without_another_contact() -> None:
    segmenter = Segmenter(ProfileConfig(segments=2, warmup=4))
    for customer, x in (("a", 0.0), ("b", 1.0), ("gone", 0.1)):
        segmenter.update(customer, None, {"x": x})
    low = segmenter.update("c", None, {"x": 0.05})  # the fourth: centres chosen, c placed
    assert segmenter.ready and low is not None
    assert set(segmenter.unplaced) == {"a", "b", "gone"}
    segmenter.drop("gone")
    assert segmenter.place("a") == low != segmenter.place("b")
    assert not segmenter.unplaced
    with pytest.raises(KeyError):
        segmenter.place("a")  # once only


def test_restored_customers_without_a_segment_are_placed() -> None:
    segmenter = Segmenter(ProfileConfig(segments=2, warmup=3))
    segmenter.restore([("a", "s1", {"x": 0.0}), ("b", "s2", {"x": 1.0}), ("c", None, {"x": 0.9})])
    assert set(segmenter.unplaced) == {"c"}
    assert segmenter.place("c") == "s2"


def test_purity() -> None:
    assert purity({"a": "s1", "b": "s2"}, {"a": "x", "b": "y"}) == 1.0
    assert purity({"a": "s1", "b": "s1"}, {"a": "x", "b": "y"}) == 0.5
    assert purity({}, {"a": "x"}) == 0.0
