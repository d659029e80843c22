"""Misbehaviour rates and the gateway's batches: late, twice, in order, bounded (pure)."""

import random
from collections import Counter
from typing import Any

import pytest

from demo.simulator.batches import Batcher, Endpoint, Outbox
from demo.simulator.misbehaviour import TRIP_KINDS, Misbehaviour, Rates, trip_misbehaviour

ALL = frozenset(Misbehaviour)


def test_rates_parse_one_rate_for_all_or_rates_by_kind() -> None:
    assert Rates.parse("0.25") == Rates.uniform(0.25)
    assert Rates.parse("0") == Rates(*(0.0,) * 7)
    parsed = Rates.parse("parking=0.5, no-ride=0.2")
    assert parsed.parking == 0.5
    assert parsed.no_ride == 0.2
    assert parsed.speeding == Rates().speeding


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1.5", "probability"),
        ("parking=2", "probability"),
        ("jaywalking=0.1", "KIND one of"),
        ("parking", "expected RATE or KIND=RATE"),
    ],
)
def test_bad_rates_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Rates.parse(text)


def test_a_trip_breaks_at_most_one_rule_at_the_rates_given() -> None:
    rng = random.Random(1)
    assert {trip_misbehaviour(Rates.uniform(0), rng, ALL) for _ in range(100)} == {None}
    only = Rates(parking=1, speeding=0, no_ride=0, leave_area=0)
    assert {trip_misbehaviour(only, rng, ALL) for _ in range(100)} == {Misbehaviour.PARKING}
    drawn = Counter(trip_misbehaviour(Rates(0.1, 0.2, 0.05, 0.05), rng, ALL) for _ in range(20000))
    assert drawn[Misbehaviour.SPEEDING] / 20000 == pytest.approx(0.2, abs=0.015)
    assert drawn[None] / 20000 == pytest.approx(0.6, abs=0.015)


def test_rates_past_one_are_scaled_and_disallowed_kinds_never_drawn() -> None:
    rng = random.Random(2)
    drawn = Counter(
        trip_misbehaviour(Rates.uniform(1.0), rng, ALL - {Misbehaviour.SPEEDING})
        for _ in range(4000)
    )
    assert set(drawn) == set(TRIP_KINDS) - {Misbehaviour.SPEEDING}
    assert min(drawn.values()) > 1000


def items(n: int, kind: str) -> list[dict[str, Any]]:
    return [{kind: i} for i in range(n)]


def test_batches_go_telemetry_first_within_the_size_limit() -> None:
    batcher = Batcher("op", Rates.uniform(0), random.Random(3), max_items=4)
    outbox = Outbox(items(9, "t"), items(2, "e"), items(1, "trip"))
    batches = batcher.drain(outbox, 0)
    assert [(b.endpoint, len(b.items)) for b in batches] == [
        (Endpoint.TELEMETRY, 4),
        (Endpoint.TELEMETRY, 4),
        (Endpoint.TELEMETRY, 1),
        (Endpoint.EVENTS, 2),
        (Endpoint.TRIPS, 1),
    ]
    assert [i for b in batches[:3] for i in b.items] == items(9, "t")
    assert (outbox.telemetry, outbox.events, outbox.trips) == ([], [], [])
    assert batcher.drain(outbox, 1) == []


def test_duplicated_batches_are_posted_twice_at_once() -> None:
    batcher = Batcher("op", Rates.parse("late_batch=0,duplicate_batch=1"), random.Random(4))
    outbox = Outbox(items(3, "t"))
    first, second = batcher.drain(outbox, 0)
    assert first.items == second.items
    assert (first.note, second.note) == ("", "duplicate")
    assert outbox.tally["duplicate_batch"] == 1


def test_late_batches_come_minutes_later_and_all_before_the_run_ends() -> None:
    batcher = Batcher("op", Rates.parse("late_batch=1,duplicate_batch=0"), random.Random(5))
    sent_now = 0
    for t in range(10):
        outbox = Outbox(items(2, f"t{t}"))
        sent_now += len(batcher.drain(outbox, t * 1000))
    assert len(batcher.held) == 10
    assert 0 < sent_now < 10  # some were also sent on time: the late one is a re-send
    assert batcher.drain(Outbox(), 60_000) == []  # not yet: at least two minutes
    late = batcher.drain(Outbox(), 200_000)
    assert late
    assert all(b.note == "late" for b in late)
    rest = batcher.release(None)
    assert len(late) + len(rest) == 10
    assert batcher.held == []
