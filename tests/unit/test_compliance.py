"""Compliance of a fleet snapshot with an MDS 2.0 policy (pure), against a brute force."""

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geofencing.compliance import (
    PolicyCompliance,
    RuleCompliance,
    VehicleSnapshot,
    evaluate_policy,
    rule_active_at,
)
from geofencing.policy import Policy, Rule, parse_policy

STOCKHOLM = ZoneInfo("Europe/Stockholm")
PROVIDER_A = "2411d395-04f2-47c9-ab66-d09e9e3c3251"
PROVIDER_B = "63f13c48-34ff-49d2-aca7-cf6a5b6171c3"
CITY = "3c9604d6-b5ee-11e8-96f8-529269fb1459"
CENTRE = "0c77c813-bece-4e8a-84fd-f99af777d198"
STATION = "e3ed0a0e-61d3-4887-8b6a-4af4f3769c14"
ELSEWHERE = "1f943d59-ccc9-4d91-b6e2-0c5e771cbc49"
# Geographies as lat/lng boxes [south, north) x [west, east): the centre and the station
# lie inside the city, apart from each other; ELSEWHERE is outside the city.
BOXES = {
    CITY: (56.00, 56.10, 12.65, 12.80),
    CENTRE: (56.04, 56.05, 12.69, 12.70),
    STATION: (56.03, 56.035, 12.69, 12.70),
    ELSEWHERE: (55.90, 55.95, 12.65, 12.80),
}
POINTS = {
    "centre": (56.045, 12.695),
    "station": (56.032, 12.695),
    "city": (56.08, 12.75),
    "elsewhere": (55.92, 12.70),
    "nowhere": (57.0, 14.0),
}


def in_box(geography_id: str, lat: float, lng: float) -> bool:
    south, north, west, east = BOXES[geography_id]
    return south <= lat < north and west <= lng < east


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def local_ms(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> int:
    return ms(datetime(year, month, day, hour, minute, second, tzinfo=STOCKHOLM))


def utc_ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return ms(datetime(year, month, day, hour, minute, second, tzinfo=UTC))


NOW = local_ms(2026, 11, 26, 12, 0)  # a Thursday, CET
MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000


def vehicle(
    device_id: str,
    where: str = "centre",
    *,
    provider: str = PROVIDER_A,
    vehicle_type: str = "scooter_standing",
    propulsion: tuple[str, ...] = ("electric",),
    state: str = "available",
    events: tuple[str, ...] = ("trip_end",),
    since: int = NOW - HOUR,
    speed: float | None = None,
) -> VehicleSnapshot:
    lat, lng = POINTS[where]
    return VehicleSnapshot(
        device_id=device_id,
        provider_id=provider,
        vehicle_type=vehicle_type,
        propulsion_types=propulsion,
        state=state,
        event_types=events,
        lat=lat,
        lng=lng,
        state_since_ms=since,
        speed=speed,
    )


_UNITS = {"count": "devices", "speed": "kph", "time": "minutes"}


def rule(
    n: int,
    rule_type: str = "count",
    geographies: Sequence[str] = (CITY,),
    states: dict[str, list[str]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": f"rule {n}",
        "rule_id": f"00000000-0000-4000-8000-{n:012d}",
        "rule_type": rule_type,
        "geographies": list(geographies),
        "states": {"available": []} if states is None else states,
    }
    if rule_type in _UNITS:
        document["rule_units"] = _UNITS[rule_type]
    return document | fields


def rid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def policy(
    *rules: dict[str, Any],
    start: int = NOW - 30 * DAY,
    end: int | None = None,
    provider_ids: list[str] | None = None,
) -> Policy:
    document: dict[str, Any] = {
        "name": "test policy",
        "policy_id": "99f7a469-6e3a-4981-9313-c2f6c0bbd5ce",
        "description": "compliance test",
        "start_date": start,
        "published_date": start - 20 * MINUTE,
        "rules": list(rules),
    }
    if end is not None:
        document["end_date"] = end
    if provider_ids is not None:
        document["provider_ids"] = provider_ids
    return parse_policy(document)


def evaluate(
    p: Policy, vehicles: Sequence[VehicleSnapshot], now: int = NOW, **kw: Any
) -> PolicyCompliance:
    return evaluate_policy(p, vehicles, now_ms=now, tz=STOCKHOLM, geographies=in_box, **kw)


def only_rule(result: PolicyCompliance, n: int, provider: str = PROVIDER_A) -> RuleCompliance:
    return next(r for r in result.provider(provider).rules if r.rule_id == rid(n))


# --- count rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("present", "bounds", "violators", "excess", "shortfall"),
    [
        (3, {"maximum": 3}, 0, 0, 0),
        (4, {"maximum": 3}, 1, 1, 0),
        (6, {"maximum": 3}, 3, 3, 0),
        (3, {"maximum": 3, "inclusive_maximum": False}, 1, 1, 0),
        (0, {"maximum": 0}, 0, 0, 0),
        (2, {"maximum": 0}, 2, 2, 0),
        (2, {"minimum": 2}, 0, 0, 0),
        (1, {"minimum": 2}, 0, 0, 1),
        (0, {"minimum": 2, "maximum": 5}, 0, 0, 2),
        (2, {"minimum": 2, "inclusive_minimum": False}, 0, 0, 1),
        (9, {}, 0, 0, 0),
    ],
)
def test_count_rule_bounds(
    present: int, bounds: dict[str, Any], violators: int, excess: int, shortfall: int
) -> None:
    fleet = [vehicle(f"d{i}", since=NOW - (10 - i) * MINUTE) for i in range(present)]
    result = only_rule(evaluate(policy(rule(1, **bounds)), fleet, providers=[PROVIDER_A]), 1)
    assert result.total_matched == present
    assert len(result.violating_device_ids) == violators
    assert (result.excess, result.shortfall) == (excess, shortfall)
    assert result.in_violation is bool(violators or shortfall)
    # The vehicles beyond the maximum are the ones that entered their state last.
    assert result.violating_device_ids == tuple(
        f"d{i}" for i in range(present - violators, present)
    )


def test_count_violators_are_the_latest_arrivals_in_any_input_order() -> None:
    fleet = [
        vehicle("late", since=NOW - MINUTE),
        vehicle("early", since=NOW - DAY),
        vehicle("b-tie", since=NOW - HOUR),
        vehicle("a-tie", since=NOW - HOUR),
    ]
    result = only_rule(evaluate(policy(rule(1, maximum=2)), fleet), 1)
    assert result.matched_device_ids == ("early", "a-tie", "b-tie", "late")
    assert result.violating_device_ids == ("b-tie", "late")


# --- speed rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("units", "bounds", "speed", "violating"),
    [
        ("kph", {"maximum": 18}, 5.0, False),  # exactly 18 km/h: the maximum is in bounds
        ("kph", {"maximum": 18}, 5.0000001, True),
        ("kph", {"maximum": 18, "inclusive_maximum": False}, 5.0, True),
        ("kph", {"maximum": 20}, 5.5, False),  # 19.8 km/h
        ("kph", {"maximum": 20}, 5.6, True),  # 20.16 km/h
        ("mph", {"maximum": 10}, 4.4, False),  # 9.84 mph
        ("mph", {"maximum": 10}, 4.5, True),  # 10.07 mph
        ("mph", {"maximum": 10}, 4.4704, False),  # as near 10 mph as a float gets, below it
        ("mph", {"maximum": 10}, 4.4703, False),  # 9.99978 mph
        ("mph", {"maximum": 10}, 4.4705, True),  # 10.00022 mph
        ("kph", {"minimum": 5, "maximum": 30}, 1.0, True),  # 3.6 km/h, below a minimum
        ("kph", {}, 40.0, False),  # no maximum
    ],
)
def test_speed_rule_converts_mds_metres_per_second(
    units: str, bounds: dict[str, Any], speed: float, violating: bool
) -> None:
    p = policy(rule(1, "speed", states={"on_trip": []}, rule_units=units, **bounds))
    result = evaluate(p, [vehicle("d1", state="on_trip", events=("trip_start",), speed=speed)])
    assert only_rule(result, 1).violating_device_ids == (("d1",) if violating else ())
    found = result.provider(PROVIDER_A).vehicles_found[0]
    factor = Fraction(5, 18) if units == "kph" else Fraction(1_609_344, 3_600_000)
    assert found.value == pytest.approx(float(Fraction(speed) / factor))


def test_speed_rule_without_a_speed_matches_but_cannot_violate() -> None:
    p = policy(
        rule(1, "speed", states={"on_trip": []}, maximum=10), rule(2, states={"on_trip": []})
    )
    result = evaluate(p, [vehicle("d1", state="on_trip", speed=None)])
    speed = only_rule(result, 1)
    assert speed.matched_device_ids == ("d1",)
    assert speed.unmeasured_device_ids == ("d1",)
    assert not speed.in_violation
    assert only_rule(result, 2).total_matched == 0


# --- time rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("units", "bounds", "in_state_ms", "violating"),
    [
        ("minutes", {"maximum": 30}, 30 * MINUTE, False),
        ("minutes", {"maximum": 30}, 30 * MINUTE + 1, True),
        ("minutes", {"maximum": 30, "inclusive_maximum": False}, 30 * MINUTE, True),
        ("seconds", {"maximum": 90}, 89_999, False),
        ("hours", {"maximum": 12}, 13 * HOUR, True),
        ("days", {"maximum": 5}, 5 * DAY, False),
        ("days", {"maximum": 5}, 5 * DAY + 1000, True),
        ("hours", {"minimum": 1, "maximum": 2}, 30 * MINUTE, True),
        ("hours", {"maximum": 1}, -5 * MINUTE, False),  # a state "since" the future counts as 0
    ],
)
def test_time_rule_measures_time_in_state(
    units: str, bounds: dict[str, Any], in_state_ms: int, violating: bool
) -> None:
    p = policy(rule(1, "time", rule_units=units, **bounds))
    result = evaluate(p, [vehicle("d1", since=NOW - in_state_ms)])
    assert only_rule(result, 1).violating_device_ids == (("d1",) if violating else ())


def test_time_in_days_is_24_hours_even_across_a_dst_change() -> None:
    now = local_ms(2026, 3, 29, 12, 0)  # CEST, clocks went forward at 02:00
    since = now - 24 * HOUR  # 2026-03-28 11:00 CET: 25 hours back on the wall clock
    p = policy(rule(1, "time", rule_units="days", maximum=1), start=now - DAY * 10)
    assert not evaluate(p, [vehicle("d1", since=since)], now).in_violation
    assert evaluate(p, [vehicle("d1", since=since - 1)], now).in_violation


# --- user rules and fees ----------------------------------------------------------------


def test_user_rules_match_but_never_violate() -> None:
    p = policy(rule(1, "user", states={}), rule(2, maximum=0))
    result = evaluate(p, [vehicle("d1"), vehicle("d2", state="on_trip")])
    user = only_rule(result, 1)
    assert user.matched_device_ids == ("d1", "d2")
    assert not user.in_violation
    assert only_rule(result, 2).total_matched == 0  # the user rule took them first
    assert not result.in_violation


def test_a_rate_applying_in_bounds_is_a_fee_not_a_limit() -> None:
    tier = rule(
        1,
        "time",
        rule_units="hours",
        maximum=1,
        inclusive_maximum=False,
        rate_amount=200,
        rate_applies_when="in_bounds",
    )
    result = evaluate(policy(tier), [vehicle("d1", since=NOW - 3 * HOUR)])
    assert only_rule(result, 1).matched_device_ids == ("d1",)
    assert not result.in_violation


# --- order of operations ----------------------------------------------------------------


def test_a_vehicle_counted_by_an_earlier_rule_is_not_counted_by_a_later_one() -> None:
    # The park example of the MDS reference engine: 4 allowed in the centre, 1 elsewhere.
    fleet = [vehicle(f"c{i}", "centre") for i in range(4)] + [vehicle("e", "city")]
    centre_first = policy(rule(1, geographies=[CENTRE], maximum=4), rule(2, maximum=1))
    result = evaluate(centre_first, fleet)
    assert only_rule(result, 1).matched_device_ids == ("c0", "c1", "c2", "c3")
    assert only_rule(result, 2).matched_device_ids == ("e",)
    assert not result.in_violation

    city_first = policy(rule(2, maximum=1), rule(1, geographies=[CENTRE], maximum=4))
    result = evaluate(city_first, fleet)
    assert only_rule(result, 2).total_matched == 5
    assert len(only_rule(result, 2).violating_device_ids) == 4
    assert only_rule(result, 1).total_matched == 0


def test_vehicles_left_by_every_rule_are_unmatched() -> None:
    fleet = [vehicle("in", "centre"), vehicle("out", "elsewhere"), vehicle("busy", state="on_trip")]
    result = evaluate(policy(rule(1, maximum=10)), fleet)
    assert result.provider(PROVIDER_A).unmatched_device_ids == ("busy", "out")


def test_order_of_operations_spans_rule_types() -> None:
    riding: dict[str, list[str]] = {"on_trip": []}
    p = policy(
        rule(1, "speed", geographies=[CENTRE], states=riding, maximum=10),
        rule(2, "count", states=riding, maximum=1),
    )
    fleet = [
        vehicle("slow", "centre", state="on_trip", speed=2.0),
        vehicle("fast", "centre", state="on_trip", speed=4.0),
        vehicle("out", "city", state="on_trip", speed=9.0),
    ]
    result = evaluate(p, fleet)
    assert only_rule(result, 1).matched_device_ids == ("fast", "slow")
    assert only_rule(result, 1).violating_device_ids == ("fast",)
    assert only_rule(result, 2).matched_device_ids == ("out",)  # the centre two are taken
    found = {v.device_id: v for v in result.provider(PROVIDER_A).vehicles_found}
    assert found["fast"].rule_applied == rid(1)
    assert found["fast"].rules_matched == (rid(1), rid(2))
    assert found["out"].rules_matched == (rid(2),)


def test_a_rule_not_active_now_takes_no_vehicle() -> None:
    sundays = rule(1, geographies=[CENTRE], maximum=10, days=["sun"])
    result = evaluate(policy(sundays, rule(2, maximum=0)), [vehicle("d1")])  # a Thursday
    assert not only_rule(result, 1).active
    assert only_rule(result, 2).violating_device_ids == ("d1",)


# --- filters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "matches"),
    [
        ({"vehicle_types": ["scooter_standing"]}, {"scooter", "onhold"}),
        ({"vehicle_types": ["bicycle", "moped"]}, {"ebike", "moped"}),
        ({"vehicle_types": []}, {"scooter", "ebike", "moped", "onhold"}),
        ({"propulsion_types": ["human"]}, {"ebike"}),
        ({"propulsion_types": ["electric"]}, {"scooter", "moped", "onhold"}),
        ({"propulsion_types": ["electric_assist", "combustion"]}, {"ebike"}),
        ({"states": {"available": []}}, {"scooter", "ebike", "moped"}),
        ({"states": {"non_operational": []}}, {"onhold"}),
        ({"states": {"available": ["trip_end"]}}, {"scooter", "ebike"}),
        ({"states": {"available": ["provider_drop_off"]}}, {"moped"}),
        (
            {"states": {"available": ["battery_charged"], "non_operational": ["battery_low"]}},
            {"onhold"},
        ),
        ({"states": {}}, {"scooter", "ebike", "moped", "onhold"}),
    ],
)
def test_vehicle_type_propulsion_and_state_filters(
    filters: dict[str, Any], matches: set[str]
) -> None:
    fleet = [
        vehicle("scooter"),
        vehicle("ebike", vehicle_type="bicycle", propulsion=("human", "electric_assist")),
        vehicle("moped", vehicle_type="moped", events=("provider_drop_off",)),
        vehicle("onhold", state="non_operational", events=("trip_end", "battery_low")),
    ]
    fields = dict(filters)
    states = fields.pop("states", {"available": [], "non_operational": []})
    result = evaluate(policy(rule(1, states=states, **fields)), fleet)
    assert set(only_rule(result, 1).matched_device_ids) == matches


def test_a_rule_with_several_geographies_takes_a_vehicle_in_any() -> None:
    fleet = [vehicle(w, w) for w in POINTS]
    result = evaluate(policy(rule(1, geographies=[STATION, ELSEWHERE])), fleet)
    assert set(only_rule(result, 1).matched_device_ids) == {"station", "elsewhere"}


def test_precomputed_membership_gives_the_same_answer_as_a_lookup() -> None:
    fleet = [vehicle(f"{w}{i}", w, since=NOW - i * MINUTE) for w in POINTS for i in range(3)]
    p = policy(rule(1, geographies=[CENTRE], maximum=2), rule(2, maximum=4))
    membership = {
        (v.provider_id, v.device_id): {g for g in BOXES if in_box(g, v.lat, v.lng)} for v in fleet
    }
    by_lookup = evaluate(p, fleet)
    by_membership = evaluate_policy(
        p, fleet, now_ms=NOW, tz="Europe/Stockholm", geographies=membership
    )
    assert by_membership == by_lookup
    assert by_lookup.in_violation


def test_a_device_twice_in_the_snapshot_is_refused() -> None:
    with pytest.raises(ValueError, match="appears twice"):
        evaluate(policy(rule(1)), [vehicle("d1"), vehicle("d1", "city")])


def test_two_providers_may_each_have_a_device_of_the_same_id() -> None:
    fleet = [vehicle("d1", provider=PROVIDER_A), vehicle("d1", "city", provider=PROVIDER_B)]
    membership = {
        (v.provider_id, v.device_id): {g for g in BOXES if in_box(g, v.lat, v.lng)} for v in fleet
    }
    p = policy(rule(1, geographies=[CENTRE]))
    by_lookup = evaluate(p, fleet)
    assert evaluate_policy(p, fleet, now_ms=NOW, tz=STOCKHOLM, geographies=membership) == by_lookup
    matched = {r.provider_id: r.rules[0].matched_device_ids for r in by_lookup.providers}
    assert matched == {PROVIDER_A: ("d1",), PROVIDER_B: ()}


# --- providers --------------------------------------------------------------------------


def test_counts_are_per_provider() -> None:
    fleet = [vehicle(f"a{i}") for i in range(3)] + [
        vehicle(f"b{i}", provider=PROVIDER_B) for i in range(3)
    ]
    result = evaluate(policy(rule(1, maximum=3)), fleet)
    assert [p.provider_id for p in result.providers] == sorted([PROVIDER_A, PROVIDER_B])
    assert all(only_rule(result, 1, p).total_matched == 3 for p in (PROVIDER_A, PROVIDER_B))
    assert not result.in_violation


def test_providers_outside_the_policy_are_out_of_scope() -> None:
    fleet = [vehicle("a1"), vehicle("b1", provider=PROVIDER_B)]
    result = evaluate(policy(rule(1, maximum=0), provider_ids=[PROVIDER_A]), fleet)
    assert [p.provider_id for p in result.providers] == [PROVIDER_A]
    assert result.out_of_scope_device_ids == ("b1",)
    assert result.total_violations == 1


def test_a_provider_without_vehicles_can_fall_short_of_a_minimum() -> None:
    result = evaluate(policy(rule(1, minimum=5)), [vehicle("a1")], providers=[PROVIDER_B])
    assert only_rule(result, 1, PROVIDER_A).shortfall == 4
    assert only_rule(result, 1, PROVIDER_B).shortfall == 5
    assert result.total_violations == 9


# --- when policies and rules are in force ---------------------------------------------


@pytest.mark.parametrize(
    ("now", "active"),
    [(NOW - 1, False), (NOW, True), (NOW + HOUR - 1, True), (NOW + HOUR, False)],
)
def test_policy_is_in_force_from_start_until_before_end(now: int, active: bool) -> None:
    p = policy(rule(1, maximum=0), start=NOW, end=NOW + HOUR)
    result = evaluate(p, [vehicle("d1")], now)
    assert result.policy_active is active
    assert result.in_violation is active
    unmatched = result.provider(PROVIDER_A).unmatched_device_ids
    assert unmatched == (() if active else ("d1",))


def _window(
    start: str | None = None, end: str | None = None, days: list[str] | None = None
) -> Rule:
    fields: dict[str, Any] = {}
    if start is not None:
        fields["start_time"] = start
    if end is not None:
        fields["end_time"] = end
    if days is not None:
        fields["days"] = days
    return policy(rule(1, **fields)).rules[0]


def _active_minutes(r: Rule, first_utc: datetime, hours: int) -> int:
    begin = ms(first_utc)
    return sum(rule_active_at(r, begin + m * MINUTE, STOCKHOLM) for m in range(hours * 60))


@pytest.mark.parametrize(
    ("when", "active"),
    [
        (utc_ms(2026, 3, 29, 0, 29, 59), False),  # 01:29:59 CET
        (utc_ms(2026, 3, 29, 0, 30), True),  # 01:30 CET
        (utc_ms(2026, 3, 29, 0, 59, 59), True),  # 01:59:59 CET; next second is 03:00 CEST
        (utc_ms(2026, 3, 29, 1, 0), True),  # 03:00 CEST
        (utc_ms(2026, 3, 29, 1, 30) + 999, True),  # 03:30:00.999 CEST, the end second included
        (utc_ms(2026, 3, 29, 1, 30, 1), False),  # 03:30:01 CEST
        (utc_ms(2026, 3, 28, 0, 45), False),  # 01:45 on the Saturday before
    ],
)
def test_window_across_spring_forward(when: int, active: bool) -> None:
    # 2026-03-29, the last Sunday of March: at 02:00 CET clocks jump to 03:00 CEST.
    r = _window("01:30:00", "03:30:00", ["sun"])
    assert rule_active_at(r, when, STOCKHOLM) is active


@pytest.mark.parametrize(
    ("when", "active"),
    [
        (utc_ms(2026, 10, 24, 23, 29), False),  # 01:29 CEST
        (utc_ms(2026, 10, 24, 23, 30), True),  # 01:30 CEST
        (utc_ms(2026, 10, 25, 0, 30), True),  # 02:30 CEST, the first time
        (utc_ms(2026, 10, 25, 1, 30), True),  # 02:30 CET, the second time
        (utc_ms(2026, 10, 25, 2, 30), True),  # 03:30 CET
        (utc_ms(2026, 10, 25, 2, 30, 1), False),  # 03:30:01 CET
        (utc_ms(2026, 10, 26, 1, 0), False),  # 02:00 on the Monday after
    ],
)
def test_window_across_fall_back(when: int, active: bool) -> None:
    # 2026-10-25, the last Sunday of October: at 03:00 CEST clocks go back to 02:00 CET.
    r = _window("01:30:00", "03:30:00", ["sun"])
    assert rule_active_at(r, when, STOCKHOLM) is active


def test_dst_changes_shorten_and_lengthen_a_window_in_real_time() -> None:
    r = _window("01:30:00", "03:30:00")
    # Minutes 01:30..03:30 on the wall clock, the 03:30 minute included.
    assert _active_minutes(r, datetime(2026, 3, 28, 23, tzinfo=UTC), 6) == 61
    assert _active_minutes(r, datetime(2026, 10, 24, 22, tzinfo=UTC), 6) == 181
    assert _active_minutes(r, datetime(2026, 11, 26, 23, tzinfo=UTC), 6) == 121


def test_a_window_inside_the_skipped_hour_does_not_happen_that_night() -> None:
    r = _window("02:15:00", "02:45:00")
    assert _active_minutes(r, datetime(2026, 3, 28, 23, tzinfo=UTC), 6) == 0
    assert _active_minutes(r, datetime(2026, 10, 24, 22, tzinfo=UTC), 6) == 62


def test_a_window_past_midnight_belongs_to_the_day_it_starts() -> None:
    r = _window("22:00:00", "04:00:00", ["fri"])
    assert not rule_active_at(r, local_ms(2026, 11, 27, 21, 59, 59), STOCKHOLM)  # Friday
    assert rule_active_at(r, local_ms(2026, 11, 27, 22, 0), STOCKHOLM)
    assert rule_active_at(r, local_ms(2026, 11, 28, 3, 0), STOCKHOLM)  # Saturday early
    assert rule_active_at(r, local_ms(2026, 11, 28, 4, 0), STOCKHOLM)
    assert not rule_active_at(r, local_ms(2026, 11, 28, 4, 0, 1), STOCKHOLM)
    assert not rule_active_at(r, local_ms(2026, 11, 28, 23, 0), STOCKHOLM)  # Saturday night
    assert not rule_active_at(r, local_ms(2026, 11, 27, 3, 0), STOCKHOLM)  # Friday early


def test_days_are_local_days() -> None:
    r = _window(days=["fri"])
    late_thursday_utc = utc_ms(2026, 11, 26, 23, 30)  # 00:30 on Friday in Stockholm
    assert rule_active_at(r, late_thursday_utc, STOCKHOLM)
    assert not rule_active_at(r, late_thursday_utc, ZoneInfo("America/New_York"))


def test_the_default_window_covers_the_whole_day() -> None:
    r = _window()
    assert rule_active_at(r, local_ms(2026, 11, 26, 0, 0), STOCKHOLM)
    assert rule_active_at(r, local_ms(2026, 11, 26, 23, 59, 59) + 999, STOCKHOLM)


def test_a_windowed_rule_only_counts_while_active() -> None:
    windowed = rule(1, maximum=0, start_time="01:30:00", end_time="03:30:00", days=["sun"])
    p = policy(windowed, start=utc_ms(2026, 3, 1))
    fleet = [vehicle("d1", since=utc_ms(2026, 3, 28))]
    assert evaluate(p, fleet, utc_ms(2026, 3, 29, 1, 15)).in_violation  # 03:15 CEST
    assert not evaluate(p, fleet, utc_ms(2026, 3, 29, 1, 45)).in_violation  # 03:45 CEST


# --- output -----------------------------------------------------------------------------


def test_json_shape() -> None:
    fleet = [vehicle("d1"), vehicle("d2", since=NOW), vehicle("x", "nowhere")]
    out = evaluate(policy(rule(1, maximum=1)), fleet).to_dict()
    assert json.loads(json.dumps(out)) == out
    assert out["compliance_as_of"] == NOW
    assert out["timezone"] == "Europe/Stockholm"
    assert (out["in_violation"], out["total_violations"]) == (True, 1)
    (provider,) = out["providers"]
    assert provider["excess_vehicles_count"] == 1
    assert provider["unmatched_device_ids"] == ["x"]
    (rule_out,) = provider["rules"]
    assert rule_out == {
        "rule_id": rid(1),
        "name": "rule 1",
        "rule_type": "count",
        "rule_units": "devices",
        "active": True,
        "minimum": 0,
        "maximum": 1,
        "inclusive_minimum": True,
        "inclusive_maximum": True,
        "total_matched": 2,
        "matched_device_ids": ["d1", "d2"],
        "violating_device_ids": ["d2"],
        "excess": 1,
        "shortfall": 0,
        "unmeasured_device_ids": [],
        "in_violation": True,
    }
    assert provider["vehicles_found"][1] == {
        "device_id": "d2",
        "rule_applied": rid(1),
        "rules_matched": [rid(1)],
        "violating": True,
        "value": None,
    }


# --- brute force ------------------------------------------------------------------------
# A deliberately plain evaluation, written from the policy's JSON and the module's stated
# semantics without its code: windows as concrete local intervals, one loop per rule.

_WEEKDAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_UNIT_MS = {"seconds": 1000, "minutes": 60_000, "hours": 3_600_000, "days": 86_400_000}
_KPH_OR_MPH_IN_MPS = {"kph": Fraction(1000, 3600), "mph": Fraction(1609344, 3600000)}


def _ref_rule_on(r: dict[str, Any], now: int) -> bool:
    wall = datetime.fromtimestamp(now // 1000, STOCKHOLM).replace(tzinfo=None)
    start = time.fromisoformat(r.get("start_time") or "00:00:00")
    end = time.fromisoformat(r.get("end_time") or "23:59:59")
    for back in (1, 0):
        day: date = wall.date() - timedelta(days=back)
        if r.get("days") and _WEEKDAY_NAMES[day.weekday()] not in r["days"]:
            continue
        begin = datetime.combine(day, start)
        finish = datetime.combine(day + timedelta(days=1 if end < start else 0), end)
        if begin <= wall <= finish:
            return True
    return False


def _ref_fits(r: dict[str, Any], v: VehicleSnapshot) -> bool:
    if r.get("vehicle_types") and v.vehicle_type not in r["vehicle_types"]:
        return False
    if r.get("propulsion_types") and not any(
        p in r["propulsion_types"] for p in v.propulsion_types
    ):
        return False
    if r["states"]:
        if v.state not in r["states"]:
            return False
        wanted = r["states"][v.state]
        if wanted and not any(e in wanted for e in v.event_types):
            return False
    return any(in_box(g, v.lat, v.lng) for g in r["geographies"])


def _ref_outside(value: Fraction, r: dict[str, Any]) -> bool:
    low = r.get("minimum") or 0
    if value < low or (value == low and r.get("inclusive_minimum") is False):
        return True
    high = r.get("maximum")
    if high is None:
        return False
    return value > high or (value == high and r.get("inclusive_maximum") is False)


def _reference(doc: dict[str, Any], fleet: list[VehicleSnapshot], now: int) -> dict[str, Any]:
    in_force = doc["start_date"] <= now and (doc.get("end_date") is None or now < doc["end_date"])
    scope = doc.get("provider_ids") or []
    providers = sorted(
        {v.provider_id for v in fleet if not scope or v.provider_id in scope} | set(scope)
    )
    out: dict[str, Any] = {
        "out_of_scope": sorted(v.device_id for v in fleet if scope and v.provider_id not in scope)
    }
    for provider in providers:
        mine = sorted(
            (v for v in fleet if v.provider_id == provider),
            key=lambda v: (v.state_since_ms, v.device_id),
        )
        taken: set[str] = set()
        rules: dict[str, tuple[list[str], set[str], int]] = {}
        for r in doc["rules"]:
            if not (in_force and _ref_rule_on(r, now)):
                rules[r["rule_id"]] = ([], set(), 0)
                continue
            matched = [v for v in mine if v.device_id not in taken and _ref_fits(r, v)]
            taken |= {v.device_id for v in matched}
            limits = r["rule_type"] != "user" and r.get("rate_applies_when") != "in_bounds"
            bad: set[str] = set()
            short = 0
            if limits and r["rule_type"] == "count":
                n = len(matched)
                if r.get("maximum") is not None:
                    allowed = r["maximum"] - (1 if r.get("inclusive_maximum") is False else 0)
                    bad = {v.device_id for v in matched[max(allowed, 0) :]}
                need = (r.get("minimum") or 0) + (1 if r.get("inclusive_minimum") is False else 0)
                short = max(0, need - n)
            elif limits and r["rule_type"] == "speed":
                per = _KPH_OR_MPH_IN_MPS[r["rule_units"]]
                bad = {
                    v.device_id
                    for v in matched
                    if v.speed is not None and _ref_outside(Fraction(v.speed) / per, r)
                }
            elif limits and r["rule_type"] == "time":
                unit = _UNIT_MS[r["rule_units"]]
                bad = {
                    v.device_id
                    for v in matched
                    if _ref_outside(Fraction(max(0, now - v.state_since_ms), unit), r)
                }
            rules[r["rule_id"]] = ([v.device_id for v in matched], bad, short)
        out[provider] = (rules, sorted(v.device_id for v in mine if v.device_id not in taken))
    return out


def _observed(result: PolicyCompliance) -> dict[str, Any]:
    out: dict[str, Any] = {"out_of_scope": list(result.out_of_scope_device_ids)}
    for p in result.providers:
        rules = {
            r.rule_id: (list(r.matched_device_ids), set(r.violating_device_ids), r.shortfall)
            for r in p.rules
        }
        out[p.provider_id] = (rules, sorted(p.unmatched_device_ids))
    return out


_SOME_TIMES = [
    "00:00:00",
    "01:30:00",
    "02:15:00",
    "02:45:00",
    "03:30:00",
    "04:00:00",
    "22:00:00",
    "23:59:59",
]
_clock = st.one_of(
    st.sampled_from(_SOME_TIMES),
    st.builds(
        "{:02d}:{:02d}:{:02d}".format, st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)
    ),
)
_INSTANTS = [
    utc_ms(2026, 3, 29, 0, 30),  # 01:30 CET, the spring-forward night
    utc_ms(2026, 3, 29, 1, 30),  # 03:30 CEST
    utc_ms(2026, 3, 29, 1, 30, 1),
    utc_ms(2026, 10, 25, 0, 30),  # 02:30 CEST, the fall-back night
    utc_ms(2026, 10, 25, 1, 30),  # 02:30 CET
    utc_ms(2026, 10, 25, 2, 30),  # 03:30 CET
    local_ms(2026, 11, 27, 22, 0),  # a Friday
    local_ms(2026, 11, 27, 23, 59, 59),
    local_ms(2026, 11, 28, 0, 0),
    local_ms(2026, 11, 28, 4, 0),
    local_ms(2026, 11, 28, 4, 0, 1),
]
_nows = st.one_of(st.sampled_from(_INSTANTS), st.integers(utc_ms(2026, 1, 1), utc_ms(2027, 1, 1)))
# Speeds at and around the limits the rules draw, in m/s.
_SPEEDS = [
    float(limit * per + nudge)
    for limit in (5, 10, 12, 18, 20)
    for per in (Fraction(5, 18), Fraction(1_609_344, 3_600_000))
    for nudge in (0, Fraction(-1, 10_000), Fraction(1, 10_000))
]


# Strategies are built once: building them inside every draw costs more than the test.
_UNITS_BY_TYPE = {
    "count": st.just("devices"),
    "speed": st.sampled_from(["kph", "mph"]),
    "time": st.sampled_from(["seconds", "minutes", "hours", "days"]),
}
_RULE_TYPES = st.sampled_from(["count", "count", "speed", "time", "user"])
_GEOGRAPHY_LISTS = st.sampled_from([[CITY], [CENTRE], [CITY, ELSEWHERE]]) | st.lists(
    st.sampled_from(list(BOXES)), min_size=1, max_size=2, unique=True
)
_EVENT_LISTS = st.lists(
    st.sampled_from(["trip_end", "trip_start", "battery_low"]), max_size=2, unique=True
)
_STATES: st.SearchStrategy[dict[str, Any]] = (
    st.just({})
    | st.just({"available": []})
    | st.dictionaries(
        st.sampled_from(["available", "on_trip", "non_operational"]), _EVENT_LISTS, max_size=2
    )
)
_BOUNDS = st.fixed_dictionaries(
    {},
    optional={
        "minimum": st.integers(0, 4),
        "maximum": st.integers(0, 3) | st.sampled_from([5, 10, 12, 18, 20]),
        "inclusive_minimum": st.booleans(),
        "inclusive_maximum": st.booleans(),
        "rate_applies_when": st.sampled_from(["in_bounds", "out_of_bounds", "out_of_bounds"]),
    },
)
_FILTERS: st.SearchStrategy[dict[str, Any]] = st.sampled_from([{}, {}]) | st.fixed_dictionaries(
    {},
    optional={
        "vehicle_types": st.lists(
            st.sampled_from(["scooter_standing", "bicycle", "moped"]), max_size=2, unique=True
        ),
        "propulsion_types": st.lists(
            st.sampled_from(["electric", "human"]), max_size=2, unique=True
        ),
    },
)
_WINDOWS: st.SearchStrategy[dict[str, Any]] = st.sampled_from([{}, {}, {}]) | st.fixed_dictionaries(
    {},
    optional={
        "days": st.lists(st.sampled_from(_WEEKDAY_NAMES), max_size=4, unique=True),
        "start_time": _clock,
        "end_time": _clock,
    },
)


@st.composite
def _random_rule(draw: st.DrawFn, n: int) -> dict[str, Any]:
    rule_type = draw(_RULE_TYPES)
    r: dict[str, Any] = {
        "name": f"r{n}",
        "rule_id": rid(n),
        "rule_type": rule_type,
        "geographies": draw(_GEOGRAPHY_LISTS),
        "states": draw(_STATES),
    }
    if rule_type != "user":
        r["rule_units"] = draw(_UNITS_BY_TYPE[rule_type])
        bounds: dict[str, Any] = draw(_BOUNDS)
        if "maximum" in bounds and "minimum" in bounds:
            bounds["maximum"] += bounds["minimum"]
        r |= bounds
    return r | draw(_FILTERS) | draw(_WINDOWS)


_REGIONS = [*BOXES.values(), (57.0, 57.1, 14.0, 14.1)]
_SINCE = st.sampled_from([-MINUTE, 0, MINUTE, HOUR, DAY, 3 * DAY]) | st.integers(0, 4 * DAY)
_VEHICLE = st.tuples(
    st.sampled_from([PROVIDER_A, PROVIDER_B]),
    st.sampled_from(["scooter_standing", "bicycle", "moped"]),
    st.lists(st.sampled_from(["electric", "human"]), min_size=1, max_size=2, unique=True),
    st.sampled_from(["available", "on_trip", "non_operational", "reserved"]),
    _EVENT_LISTS,
    st.sampled_from(_REGIONS),
    st.floats(0, 1, exclude_max=True),
    st.floats(0, 1, exclude_max=True),
    _SINCE,
    st.none() | st.sampled_from(_SPEEDS) | st.floats(0, 20),
)
_FLEETS = st.lists(_VEHICLE, min_size=3, max_size=30)
_POLICY_START = st.sampled_from([-30 * DAY, -30 * DAY, -30 * DAY, -1, 0, 1, HOUR])
_POLICY_LENGTH = st.sampled_from([None, None, 1, HOUR, 60 * DAY])
_SCOPES = st.sampled_from([None, [], [PROVIDER_A], [PROVIDER_A, PROVIDER_B]])


@st.composite
def _scenario(draw: st.DrawFn) -> tuple[dict[str, Any], list[VehicleSnapshot], int]:
    now = draw(_nows)
    rules = [draw(_random_rule(n)) for n in range(1, draw(st.integers(1, 5)) + 1)]
    start = now + draw(_POLICY_START)
    doc: dict[str, Any] = {
        "name": "random",
        "policy_id": "99f7a469-6e3a-4981-9313-c2f6c0bbd5ce",
        "description": "random",
        "start_date": start,
        "published_date": start - HOUR,
        "rules": rules,
    }
    length = draw(_POLICY_LENGTH)
    if length is not None:
        doc["end_date"] = start + length
    scope = draw(_SCOPES)
    if scope is not None:
        doc["provider_ids"] = scope
    fleet = [
        VehicleSnapshot(
            device_id=f"d{i:02d}",
            provider_id=provider,
            vehicle_type=vehicle_type,
            propulsion_types=tuple(propulsion),
            state=state,
            event_types=tuple(events),
            lat=south + y * (north - south),
            lng=west + x * (east - west),
            state_since_ms=now - ago,
            speed=speed,
        )
        for i, (
            provider,
            vehicle_type,
            propulsion,
            state,
            events,
            (south, north, west, east),
            y,
            x,
            ago,
            speed,
        ) in enumerate(draw(_FLEETS))
    ]
    return doc, fleet, now


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_scenario())
def test_compliance_equals_a_brute_force_evaluation(
    scenario: tuple[dict[str, Any], list[VehicleSnapshot], int],
) -> None:
    doc, fleet, now = scenario
    result = evaluate_policy(parse_policy(doc), fleet, now_ms=now, tz=STOCKHOLM, geographies=in_box)
    assert _observed(result) == _reference(doc, fleet, now)
    # Every in-scope vehicle is either taken by exactly one rule or unmatched.
    for p in result.providers:
        taken = [d for r in p.rules for d in r.matched_device_ids]
        assert len(taken) == len(set(taken))
        assert sorted(taken + list(p.unmatched_device_ids)) == sorted(
            v.device_id for v in fleet if v.provider_id == p.provider_id
        )


def test_the_result_does_not_depend_on_the_order_of_the_snapshot() -> None:
    fleet = [vehicle(f"d{i}", since=NOW - (i % 3) * MINUTE) for i in range(6)]
    p = policy(rule(1, maximum=2), rule(2, "time", maximum=1))
    assert evaluate(p, fleet) == evaluate(p, list(reversed(fleet)))
