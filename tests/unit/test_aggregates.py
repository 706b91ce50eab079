"""Windowed aggregates: window geometry, closing and baselines, deltas and their wire format."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import FeedbackEvent, ScoredCommunication
from streams.aggregates import (
    METRICS,
    Aggregate,
    Baseline,
    KeyWindows,
    Metric,
    WindowSpec,
    buckets_from_windows,
    from_ms,
    to_ms,
)
from streams.conversations import Turn, answer
from streams.deltas import (
    Delta,
    decode_delta,
    delta_key,
    deltas_from_communications,
    deltas_from_feedback,
    deltas_from_response,
    encode_delta,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T0_MS = to_ms(T0)
MIN = 60_000
HOP = WindowSpec(size_s=600, step_s=60, grace_s=120)
TUMBLE = WindowSpec.tumbling(60, grace_s=30)


def communication(
    at: datetime,
    *,
    customer: str = "c1",
    agent: str | None = "a1",
    channel: str = "chat",
    need: str | None = "refund",
    direction: str = "inbound",
    satisfaction: float | None = 0.5,
    sentiment: str | None = "neutral",
    urgency: float | None = 0.1,
    conversation: str | None = "cv1",
) -> ScoredCommunication:
    return ScoredCommunication.model_validate(
        {
            "event_id": f"e-{at.timestamp()}-{customer}",
            "occurred_at": at,
            "customer_id": customer,
            "channel": channel,
            "direction": direction,
            "text": "hello",
            "conversation_id": conversation,
            "agent_id": agent,
            "need": need,
            "processed_at": at,
            "source": {"topic": "crm.communications", "partition": 0, "offset": 0},
            "text_info": {"original_chars": 5, "truncated": False},
            "satisfaction": satisfaction,
            "sentiment": sentiment,
            "urgency": urgency,
        }
    )


def rating(
    at: datetime, score: float, *, agent: str | None = "a1", need: str | None = None
) -> FeedbackEvent:
    return FeedbackEvent.model_validate(
        {
            "event_id": f"f-{at.timestamp()}",
            "occurred_at": at,
            "customer_id": "c1",
            "agent_id": agent,
            "need": need,
            "kind": "csat",
            "score": score,
            "scale": {"min": 1, "max": 5},
        }
    )


# -- Time ------------------------------------------------------------------------------


def test_milliseconds_are_exact_and_round_trip() -> None:
    at = datetime(2026, 3, 2, 9, 0, 0, 123_456, tzinfo=UTC)
    assert to_ms(at) == T0_MS + 123
    assert from_ms(T0_MS) == T0 and from_ms(T0_MS).tzinfo is not None
    assert to_ms(datetime(1969, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)) == -1


# -- Window geometry -------------------------------------------------------------------


def test_tumbling_windows_hold_each_moment_once_with_exact_boundaries() -> None:
    spec = WindowSpec.tumbling(60)
    assert not spec.hopping
    assert spec.bucket(0) == 0 and spec.bucket(59_999) == 0 and spec.bucket(60_000) == 60_000
    assert spec.bucket(-1) == -60_000
    assert spec.window_starts(spec.bucket(59_999)) == [0]
    assert spec.window_starts(60_000) == [60_000]
    assert spec.current(59_999) == 0 and spec.current(60_000) == 60_000


def test_hopping_windows_hold_each_bucket_size_over_step_times() -> None:
    assert HOP.hopping
    starts = HOP.window_starts(HOP.bucket(10 * MIN + 59_999))
    assert starts == [MIN * m for m in range(1, 11)]
    # The boundary: a window [start, start + 10 min) holds its start, not its end.
    assert 0 not in starts and 10 * MIN in starts
    assert HOP.window_starts(HOP.bucket(10 * MIN - 1)) == [MIN * m for m in range(0, 10)]


@given(
    step_s=st.integers(1, 120),
    ratio=st.integers(1, 12),
    at_ms=st.integers(-(10**12), 10**13),
)
def test_window_starts_are_exactly_the_aligned_windows_holding_the_time(
    step_s: int, ratio: int, at_ms: int
) -> None:
    spec = WindowSpec(size_s=step_s * ratio, step_s=step_s)
    bucket = spec.bucket(at_ms)
    starts = spec.window_starts(bucket)
    assert bucket <= at_ms < bucket + spec.step_ms
    assert len(starts) == ratio
    for start in starts:
        assert start % spec.step_ms == 0 and start <= at_ms < start + spec.size_ms
    # No other aligned window holds it.
    assert starts[0] - spec.step_ms + spec.size_ms <= at_ms
    # The current window is the oldest holding the time.
    assert spec.current(at_ms) == starts[0]


def test_current_window_of_hopping_windows_is_the_full_one_ending_soonest() -> None:
    watermark = T0_MS + 30_000  # 09:00:30
    start = HOP.current(watermark)
    assert from_ms(start) == T0 - timedelta(minutes=9)
    assert HOP.end(start) == T0_MS + MIN  # ends at 09:01, just after the watermark


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size_s": 600, "step_s": 70}, "multiple of its step"),
        ({"size_s": 60, "step_s": 120}, "multiple of its step"),
        ({"size_s": 0, "step_s": 0}, "positive"),
        ({"size_s": 60, "step_s": 60, "grace_s": -1}, "grace"),
        ({"size_s": 60, "step_s": 60, "baseline_alpha": 0}, "baseline_alpha"),
        ({"size_s": 60, "step_s": 60, "baseline_alpha": 1.5}, "baseline_alpha"),
    ],
)
def test_invalid_window_specs_are_refused(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        WindowSpec(**kwargs)


# -- Aggregates ------------------------------------------------------------------------


def test_aggregate_metrics_and_their_samples() -> None:
    agg = Aggregate.for_message(0.25, "negative", 0.7)
    agg.merge(Aggregate.for_message(0.75, "positive", None))
    agg.merge(Aggregate.for_message(None, None, 0.2))
    agg.merge(Aggregate.for_rating(1.0)).merge(Aggregate.for_rating(0.5))
    agg.merge(Aggregate.for_response(30)).merge(Aggregate.for_response(90))
    expected = {
        "satisfaction": (0.5, 2),
        "rated_satisfaction": (0.75, 2),
        "volume": (3.0, 3),
        "negative_share": (0.5, 2),
        "negative_volume": (1.0, 2),
        "response_time_s": (60.0, 2),
        "urgency": (0.7, 2),
    }
    assert {m: (agg.metric(m), agg.samples(m)) for m in METRICS} == expected


def test_empty_aggregate_has_no_means() -> None:
    empty = Aggregate()
    assert empty.is_empty() and not Aggregate.for_rating(0.0).is_empty()
    for metric in ("satisfaction", "rated_satisfaction", "negative_share", "urgency"):
        assert empty.metric(metric) is None and empty.samples(metric) == 0
    assert empty.metric("volume") == 0.0


def test_aggregate_dict_is_compact_and_keeps_a_zero_urgency() -> None:
    assert Aggregate().to_dict() == {}
    calm = Aggregate.for_message(0.0, None, 0.0)
    assert calm.to_dict() == {"v": 1, "pn": 1, "um": 0.0, "un": 1}
    assert Aggregate.from_dict(calm.to_dict()) == calm


@pytest.mark.parametrize(
    "data", [{"zz": 1}, {"v": -1}, {"v": 1.5}, {"v": True}, {"ps": "0.5"}, {"um": float("nan")}]
)
def test_aggregate_from_dict_refuses_bad_fields(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="aggregate field"):
        Aggregate.from_dict(data)


def dyadic() -> st.SearchStrategy[float]:
    # Multiples of 1/64: their sums are exact, so order-independence can be tested exactly.
    return st.integers(0, 64).map(lambda k: k / 64)


aggregates = st.builds(
    Aggregate,
    volume=st.integers(0, 50),
    predicted_sum=dyadic(),
    predicted_n=st.integers(0, 50),
    rated_sum=dyadic(),
    rated_n=st.integers(0, 50),
    negative_n=st.integers(0, 50),
    sentiment_n=st.integers(0, 50),
    response_sum_s=st.integers(0, 10_000).map(float),
    response_n=st.integers(0, 50),
    urgency_max=st.none() | dyadic(),
    urgency_n=st.integers(0, 50),
)


@given(aggregates, aggregates, aggregates)
def test_merge_is_associative_and_commutative(a: Aggregate, b: Aggregate, c: Aggregate) -> None:
    left = a.copy().merge(b).merge(c)
    right = a.copy().merge(b.copy().merge(c))
    assert left == right
    assert a.copy().merge(b) == b.copy().merge(a)
    assert a.copy().merge(Aggregate()) == a


@given(aggregates)
def test_aggregate_dict_round_trips_through_json(a: Aggregate) -> None:
    assert Aggregate.from_dict(orjson.loads(orjson.dumps(a.to_dict()))) == a


# -- Baselines -------------------------------------------------------------------------


def test_baseline_is_an_exponentially_weighted_mean_and_variance() -> None:
    rng = random.Random(3)
    values = [rng.gauss(0.7, 0.05) for _ in range(2000)]
    baseline = Baseline()
    for x in values:
        baseline.update(x, alpha=0.05)
    assert baseline.n == 2000
    assert baseline.mean == pytest.approx(0.7, abs=0.02)
    assert baseline.std == pytest.approx(0.05, rel=0.3)
    first = Baseline()
    first.update(0.4, alpha=0.2)
    assert (first.mean, first.std, first.n) == (0.4, 0.0, 1)


# -- KeyWindows: closing, grace, late data, baselines -----------------------------------


def test_tumbling_window_closes_after_its_grace_and_late_data_is_dropped() -> None:
    state = KeyWindows()
    assert state.add(0, Aggregate.for_rating(0.5), TUMBLE) == []
    # 60 s: [0, 60 s) ended, but 30 s of grace are left.
    assert state.add(60_000, Aggregate.for_rating(1.0), TUMBLE) == []
    assert sorted(state.windows(TUMBLE)) == [0, 60_000]
    assert state.add(0, Aggregate.for_rating(0.0), TUMBLE) == []  # late but within grace
    assert state.windows(TUMBLE)[0].rated_n == 2
    closed = state.add(120_000, Aggregate.for_rating(1.0), TUMBLE)
    assert [start for start, _ in closed] == [0]
    assert closed[0][1].metric("rated_satisfaction") == 0.25
    assert sorted(state.windows(TUMBLE)) == [60_000, 120_000]
    assert state.baselines["rated_satisfaction"].mean == 0.25
    # Too late: its only window is closed. Dropped and counted, never raised.
    before = state.to_dict()
    state.add(59_000, Aggregate.for_rating(0.0), TUMBLE)
    assert state.late_dropped == 1
    assert state.windows(TUMBLE) == KeyWindows.from_dict(before).windows(TUMBLE)
    assert state.baselines["rated_satisfaction"].n == 1


def test_hopping_delta_partly_late_reaches_only_the_open_windows() -> None:
    state = KeyWindows()
    state.add(T0_MS, Aggregate.for_rating(1.0), HOP)
    state.add(T0_MS + 5 * MIN, Aggregate.for_rating(1.0), HOP)
    open_before = set(state.windows(HOP))
    # 09:05 closes every window ending by 09:03, i.e. starting by 08:53.
    assert min(open_before) == T0_MS - 6 * MIN
    counts = {start: agg.rated_n for start, agg in state.windows(HOP).items()}
    state.add(T0_MS, Aggregate.for_rating(0.0), HOP)  # its windows start 08:51..09:00
    assert state.late_dropped == 0
    reached = {s for s, agg in state.windows(HOP).items() if agg.rated_n == counts[s] + 1}
    assert reached == {s for s in HOP.window_starts(T0_MS) if s >= T0_MS - 6 * MIN}
    assert len(reached) == 7


def test_memory_per_key_is_bounded_by_the_open_windows() -> None:
    state = KeyWindows()
    for minute in range(24 * 60):
        state.add(T0_MS + minute * MIN, Aggregate.for_rating(0.5), HOP)
        # 10 windows hold the newest bucket, plus those waiting out their 2 min of grace.
        assert len(state.windows(HOP)) <= 12
        assert len(state.buckets) <= 12  # (size + grace) / step buckets
    # Windows start from 08:51 (the first one holding 09:00); the newest 12 stay open.
    assert state.baselines["rated_satisfaction"].n == 9 + 24 * 60 - 12


def test_closed_windows_feed_baselines_except_frozen_and_unlearned_metrics() -> None:
    state = KeyWindows()
    for minute in range(5):
        part = Aggregate.for_message(0.5, "negative", 0.9).merge(Aggregate.for_rating(0.8))
        state.add(minute * MIN, part, TUMBLE, frozen={"satisfaction"})
    assert "satisfaction" not in state.baselines
    assert state.baselines["rated_satisfaction"].n == 3  # windows 0, 1 and 2 min closed
    assert state.baselines["negative_share"].mean == 1.0
    # No samples, no learning: response time was never seen.
    assert "response_time_s" not in state.baselines

    learning = KeyWindows()
    for minute in range(5):
        learning.add(minute * MIN, Aggregate.for_message(0.5), TUMBLE, learn={"volume"})
    assert set(learning.baselines) == {"volume"}


def test_key_windows_round_trip_through_json() -> None:
    state = KeyWindows()
    rng = random.Random(5)
    for i in range(300):
        late = 20 * MIN if i % 50 == 49 else rng.randrange(0, 200_000)
        at = T0_MS + i * 7_000 - late
        state.add(HOP.bucket(at), Aggregate.for_message(rng.random(), "negative", 0.3), HOP)
    assert state.late_dropped > 0 and state.baselines and state.buckets
    data = orjson.loads(orjson.dumps(state.to_dict()))
    assert KeyWindows.from_dict(data) == state
    assert KeyWindows.from_dict({}) == KeyWindows()


def test_key_windows_current_window() -> None:
    state = KeyWindows()
    assert state.current(HOP)[2].is_empty()
    state.add(T0_MS + 30_000, Aggregate.for_rating(0.5), HOP)
    state.add(T0_MS + 2 * MIN, Aggregate.for_rating(1.0), HOP)
    start, end, current = state.current(HOP)
    assert (start, end) == (T0_MS - 7 * MIN, T0_MS + 3 * MIN)
    assert current.rated_n == 2


@settings(max_examples=60)
@given(
    st.lists(st.tuples(st.integers(0, 119_999), aggregates), min_size=1, max_size=25),
    st.randoms(use_true_random=False),
)
def test_any_order_of_deltas_within_grace_gives_the_same_windows_and_baselines(
    parts: list[tuple[int, Aggregate]], rng: random.Random
) -> None:
    spec = WindowSpec(size_s=60, step_s=20, grace_s=120)
    shuffled = parts[:]
    rng.shuffle(shuffled)
    states = []
    for order in (parts, shuffled):
        state = KeyWindows()
        for at, part in order:
            state.add(spec.bucket(T0_MS + at), part, spec)
        assert state.late_dropped == 0
        state.add(T0_MS + 3_600_000, Aggregate.for_rating(1.0), spec)  # closes them all
        states.append(state)
    assert states[0] == states[1]


class PerWindow:
    """The reference: each delta merged into every open window holding its bucket (how
    :class:`KeyWindows` kept its state before it kept buckets). Deliberately simple."""

    def __init__(self) -> None:
        self.windows: dict[int, Aggregate] = {}
        self.watermark_ms: int | None = None
        self.baselines: dict[Metric, Baseline] = {}
        self.late_dropped = 0

    def add(
        self, bucket_ms: int, delta: Aggregate, spec: WindowSpec, frozen: frozenset[Metric]
    ) -> list[tuple[int, Aggregate]]:
        bucket = spec.bucket(bucket_ms)
        reached = False
        for start in spec.window_starts(bucket):
            if self.watermark_ms is None or not spec.closed(start, self.watermark_ms):
                self.windows.setdefault(start, Aggregate()).merge(delta)
                reached = True
        self.late_dropped += not reached
        if self.watermark_ms is None or bucket > self.watermark_ms:
            self.watermark_ms = bucket
        closed = [
            (start, self.windows.pop(start))
            for start in sorted(self.windows)
            if spec.closed(start, self.watermark_ms)
        ]
        for _, aggregate in closed:
            for metric in METRICS:
                value = aggregate.metric(metric)
                if metric in frozen or value is None or aggregate.samples(metric) == 0:
                    continue
                self.baselines.setdefault(metric, Baseline()).update(value, spec.baseline_alpha)
        return closed


specs = st.sampled_from(
    [HOP, TUMBLE, WindowSpec(size_s=60, step_s=20, grace_s=0), WindowSpec(300, 60, 600)]
)
# Minutes since T0 (some far behind the newest: late), with a few jumps of hours.
arrivals = st.lists(
    st.tuples(st.integers(-30, 90).map(lambda m: m * 17_000), aggregates, st.booleans()),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(specs, arrivals)
def test_buckets_give_the_same_windows_closings_and_baselines_as_per_window_state(
    spec: WindowSpec, parts: list[tuple[int, Aggregate, bool]]
) -> None:
    fast, slow = KeyWindows(), PerWindow()
    clock = T0_MS
    for offset, part, jump in parts:
        clock += 3 * 3_600_000 if jump and offset % 7 == 0 else 0
        bucket = spec.bucket(clock + offset)
        frozen: frozenset[Metric] = frozenset({"satisfaction"}) if offset % 3 else frozenset()
        assert fast.add(bucket, part, spec, frozen=frozen) == slow.add(bucket, part, spec, frozen)
        assert fast.windows(spec) == slow.windows
        assert fast.current(spec)[2] == slow.windows.get(fast.current(spec)[0], Aggregate())
        assert (fast.watermark_ms, fast.late_dropped) == (slow.watermark_ms, slow.late_dropped)
        assert fast.baselines == slow.baselines


# What deltas are made of (streams.deltas): never empty, a maximum only with its count.
real_arrivals = st.lists(
    st.tuples(
        st.integers(-30, 90).map(lambda m: m * 17_000),
        aggregates.filter(
            lambda a: not a.is_empty() and (a.urgency_max is None) == (a.urgency_n == 0)
        ),
        st.booleans(),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=100, deadline=None)
@given(specs, real_arrivals, real_arrivals)
def test_state_kept_per_window_converts_to_buckets_that_go_on_alike(
    spec: WindowSpec,
    first: list[tuple[int, Aggregate, bool]],
    then: list[tuple[int, Aggregate, bool]],
) -> None:
    """An upgrade: state written per window goes on as if it had been kept in buckets
    (exactly, for counts and sums: the parts are dyadic; the maximum from the current
    window on)."""
    fast, slow = KeyWindows(), PerWindow()
    for offset, part, _ in first:
        fast.add(spec.bucket(T0_MS + offset), part, spec)
        slow.add(spec.bucket(T0_MS + offset), part, spec, frozenset())
    old: dict[str, Any] = {"w": {str(s): a.to_dict() for s, a in slow.windows.items()}}
    if slow.watermark_ms is not None:
        old["wm"] = slow.watermark_ms
    converted = KeyWindows.from_dict(old, spec)

    def without_max(windows: dict[int, Aggregate]) -> dict[int, dict[str, Any]]:
        return {s: {**a.to_dict(), "um": None} for s, a in windows.items()}

    assert without_max(converted.windows(spec)) == without_max(fast.windows(spec))
    for offset, part, _ in then:
        bucket = spec.bucket(T0_MS + offset)
        closed = converted.add(bucket, part, spec)
        assert without_max(dict(closed)) == without_max(dict(fast.add(bucket, part, spec)))
        assert converted.current(spec) == fast.current(spec)


def test_state_kept_per_window_needs_its_spec() -> None:
    with pytest.raises(ValueError, match="WindowSpec"):
        KeyWindows.from_dict({"w": {}, "wm": 0})
    assert buckets_from_windows({}, None, HOP) == {}


# -- Deltas from records ---------------------------------------------------------------


def test_a_batch_is_pre_aggregated_per_dimension_key_and_bucket() -> None:
    rng = random.Random(11)
    records = [
        communication(
            T0 + timedelta(seconds=rng.uniform(0, 119)),
            customer=f"c{rng.randrange(50)}",
            agent=rng.choice(["a1", "a2", None]),
            channel=rng.choice(["chat", "email"]),
            need=rng.choice(["refund", None]),
            direction=rng.choice(["inbound", "inbound", "outbound"]),
            satisfaction=rng.randrange(5) / 4,
            sentiment=rng.choice(["negative", "neutral", "positive"]),
        )
        for _ in range(500)
    ]
    deltas = deltas_from_communications(records, HOP)
    inbound = [r for r in records if r.direction == "inbound"]
    keys = [(d.dimension, d.key, d.bucket_ms) for d in deltas]
    assert len(keys) == len(set(keys)), "one delta per (dimension, key, bucket)"
    assert {b for *_, b in keys} == {T0_MS, T0_MS + MIN}
    assert len([d for d in deltas if d.dimension != "customer"]) <= 2 * (2 + 2 + 1)
    assert keys == sorted(keys, key=lambda k: k[2]), "oldest bucket first"

    def total(dimension: str) -> Aggregate:
        out = Aggregate()
        for d in deltas:
            if d.dimension == dimension:
                out.merge(d.aggregate)
        return out

    assert total("customer").volume == total("channel").volume == len(inbound)
    assert total("agent").volume == sum(r.agent_id is not None for r in inbound)
    assert total("need").volume == sum(r.need is not None for r in inbound)
    assert total("channel").negative_n == sum(r.sentiment == "negative" for r in inbound)
    assert total("channel").predicted_sum == sum(r.satisfaction or 0 for r in inbound)
    # The same batch in another order gives the same deltas.
    assert deltas_from_communications(list(reversed(records)), HOP) == deltas


def test_outbound_replies_count_for_nothing_in_communication_deltas() -> None:
    reply = communication(T0, direction="outbound", satisfaction=0.0, sentiment="negative")
    assert deltas_from_communications([reply], HOP) == []


def test_feedback_deltas_carry_normalized_ratings_and_no_channel() -> None:
    deltas = deltas_from_feedback(
        [rating(T0, 1, need="refund"), rating(T0 + timedelta(seconds=5), 4, agent=None)], HOP
    )
    by_dimension = {(d.dimension, d.key): d.aggregate for d in deltas}
    assert set(by_dimension) == {("customer", "c1"), ("agent", "a1"), ("need", "refund")}
    assert by_dimension["customer", "c1"].metric("rated_satisfaction") == pytest.approx(0.375)
    assert by_dimension["agent", "a1"].metric("rated_satisfaction") == 0.0
    assert all(d.aggregate.volume == 0 for d in deltas)


def test_response_deltas_go_to_the_replying_agent_and_the_waiting_customer() -> None:
    asked = Turn("cv1", "inbound", T0_MS, "c1", "a1", "email", "refund")
    replied = Turn("cv1", "outbound", T0_MS + 10 * MIN, "c1", "a2", "email", None)
    deltas = deltas_from_response(asked, replied, 600.0, HOP)
    assert [(d.dimension, d.key) for d in deltas] == [
        ("customer", "c1"),
        ("agent", "a2"),
        ("channel", "email"),
        ("need", "refund"),
    ]
    assert all(d.bucket_ms == T0_MS + 10 * MIN for d in deltas)
    assert all(d.aggregate.metric("response_time_s") == 600.0 for d in deltas)
    anonymous = Turn("cv1", "outbound", T0_MS + MIN, "c1", None, "email", None)
    assert ("agent", "a1") in [
        (d.dimension, d.key) for d in deltas_from_response(asked, anonymous, 60.0, HOP)
    ]


# -- Response time: answer ------------------------------------------------------------


def turn(direction: str, at_s: int, agent: str | None = "a1") -> Turn:
    return Turn(
        "cv1",
        "inbound" if direction == "in" else "outbound",
        at_s * 1000,
        "c1",
        agent,
        "chat",
        None,
    )


@pytest.mark.parametrize(
    ("pending", "incoming", "expected"),
    [
        (None, turn("in", 10), (turn("in", 10), None)),
        (turn("in", 10), turn("in", 40), (turn("in", 10), None)),  # first unanswered kept
        (turn("in", 40), turn("in", 10), (turn("in", 10), None)),  # out of order: earlier
        (turn("in", 10), turn("out", 70), (None, 60.0)),
        (turn("in", 10), turn("out", 10), (None, 0.0)),
        (turn("in", 10), turn("out", 5), (turn("in", 10), None)),  # reply before question
        (None, turn("out", 70), (None, None)),  # agent writes first
    ],
)
def test_answer(
    pending: Turn | None, incoming: Turn, expected: tuple[Turn | None, float | None]
) -> None:
    assert answer(pending, incoming) == expected


def test_a_conversation_times_each_first_unanswered_message() -> None:
    pending: Turn | None = None
    times = []
    for direction, at_s in [
        ("in", 0),
        ("in", 20),
        ("out", 50),
        ("out", 60),
        ("in", 100),
        ("out", 400),
    ]:
        pending, seconds = answer(pending, turn(direction, at_s))
        if seconds is not None:
            times.append(seconds)
    assert times == [50.0, 300.0] and pending is None


def test_turns_round_trip_and_come_from_communications() -> None:
    record = communication(T0, direction="outbound", agent=None, need=None)
    made = Turn.from_communication(record)
    assert made == Turn("cv1", "outbound", T0_MS, "c1", None, "chat", None)
    assert Turn.from_dict(orjson.loads(orjson.dumps(made.to_dict()))) == made
    assert Turn.from_communication(communication(T0, conversation=None)) is None
    with pytest.raises(ValueError, match="direction"):
        Turn.from_dict({**made.to_dict(), "direction": "sideways"})
    with pytest.raises(ValueError, match="bad turn"):
        Turn.from_dict({"conversation_id": "cv1"})


# -- Wire format -----------------------------------------------------------------------


def test_delta_key_puts_one_key_on_one_partition() -> None:
    assert delta_key("agent", "a17") == b"agent:a17"
    assert delta_key("need", "退款") == "need:退款".encode()


@given(
    st.sampled_from(["customer", "agent", "channel", "need"]),
    st.text(min_size=1, max_size=30),
    st.integers(-(10**13), 10**13),
    aggregates,
)
def test_deltas_round_trip_through_bytes(
    dimension: Any, key: str, bucket_ms: int, aggregate: Aggregate
) -> None:
    delta = Delta(dimension, key, bucket_ms, aggregate)
    assert decode_delta(encode_delta(delta)) == delta


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"{oops", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"dim": "agent", "key": "a1", "bucket": 0}', "missing agg"),
        (b'{"dim": "galaxy", "key": "a1", "bucket": 0, "agg": {}}', "dimension 'galaxy'"),
        (b'{"dim": "agent", "key": "", "bucket": 0, "agg": {}}', "key"),
        (b'{"dim": "agent", "key": 7, "bucket": 0, "agg": {}}', "key"),
        (b'{"dim": "agent", "key": "a1", "bucket": "0", "agg": {}}', "bucket"),
        (b'{"dim": "agent", "key": "a1", "bucket": 1.5, "agg": {}}', "bucket"),
        (b'{"dim": "agent", "key": "a1", "bucket": 0, "agg": []}', "object"),
        (b'{"dim": "agent", "key": "a1", "bucket": 0, "agg": {"rn": "1"}}', "'rn'"),
        (b'{"dim": "agent", "key": "a1", "bucket": 0, "agg": {"xx": 1}}', "'xx'"),
    ],
)
def test_bad_delta_bytes_raise_a_clear_value_error(data: bytes, match: str) -> None:
    with pytest.raises(ValueError, match=f"^bad delta: .*{match}"):
        decode_delta(data)
