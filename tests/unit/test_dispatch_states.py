"""A request's life from the pods' events and by hand, and what a pod can carry (pure)."""

import pytest

from app.core.auth import Mode
from fleet.dispatch.model import Load
from fleet.dispatch.pods import capacity_of, pod_facts
from fleet.dispatch.schemas import DispatchSettingsBody
from fleet.dispatch.states import FINAL, RequestState, after_event, allowed_next

A, P = RequestState.ASSIGNED, RequestState.PICKED_UP


@pytest.mark.parametrize(
    ("state", "types", "expected"),
    [
        (A, ["reservation_start"], None),
        (A, ["reservation_stop"], None),
        (A, ["trip_start"], P),
        (A, ["order_pick_up"], P),
        (P, ["order_pick_up"], None),
        (P, ["trip_stop"], None),
        (P, ["trip_end"], RequestState.DELIVERED),
        # A pod that reports only the end still delivered the request.
        (A, ["trip_end"], RequestState.DELIVERED),
        (A, ["passenger_cancellation"], RequestState.CANCELLED),
        (A, ["customer_cancellation"], RequestState.CANCELLED),
        # Once on board, a cancellation means the ride failed.
        (P, ["passenger_cancellation"], RequestState.FAILED),
        (A, ["driver_cancellation"], RequestState.FAILED),
        (A, ["provider_cancellation"], RequestState.FAILED),
        (P, ["trip_start"], None),
        (A, ["located"], None),
    ],
)
def test_each_event_moves_the_request_as_its_meaning(
    state: RequestState, types: list[str], expected: RequestState | None
) -> None:
    assert after_event(state, types) == expected


@pytest.mark.parametrize("state", sorted(FINAL))
def test_a_finished_request_moves_no_more(state: RequestState) -> None:
    assert allowed_next(state) == frozenset()
    for types in (["trip_start"], ["trip_end"], ["passenger_cancellation"]):
        assert after_event(state, types) is None


def test_a_request_on_board_cannot_be_cancelled_or_missed() -> None:
    assert allowed_next(P) == {RequestState.DELIVERED, RequestState.FAILED}
    assert {RequestState.CANCELLED, RequestState.NO_SHOW} <= allowed_next(A)


SETTINGS = DispatchSettingsBody(seats=4, wheelchairs=1, payload_kg=60, volume_l=200)


def test_only_passenger_pods_seat_persons_and_only_accessible_ones_take_wheelchairs() -> None:
    accessible = {"accessibility_attributes": ["wheelchair_accessible"]}
    assert capacity_of(Mode.PASSENGER_SERVICES, accessible, SETTINGS) == Load(4, 1, 60_000, 200)
    assert capacity_of(Mode.PASSENGER_SERVICES, {}, SETTINGS) == Load(4, 0, 60_000, 200)
    robot = {"vehicle_attributes": {"storage_capacity": 45}}
    assert capacity_of(Mode.DELIVERY_ROBOTS, robot, SETTINGS) == Load(0, 0, 60_000, 45)
    assert capacity_of(Mode.DELIVERY_ROBOTS, accessible, SETTINGS).wheelchairs == 0


@pytest.mark.parametrize(
    ("state", "battery", "position", "why_not", "range_m"),
    [
        ("available", 80, True, None, 36_000),
        ("on_trip", 100, True, None, 48_000),
        ("available", 19, True, "battery below the reserve: charging", 0),
        ("available", 20, True, None, 0),
        ("non_operational", 80, True, "vehicle state non_operational", 36_000),
        (None, 80, True, "vehicle state unknown", 36_000),
        ("available", 80, False, "no known position", 36_000),
        # Without a battery reading the pod is trusted with a full one.
        ("available", None, True, None, 48_000),
        # A sentinel above 100 counts as full, never as more.
        ("available", 250, True, None, 48_000),
    ],
)
def test_a_pod_takes_requests_only_when_it_is_working_located_and_charged(
    state: str | None, battery: int | None, position: bool, why_not: str | None, range_m: int
) -> None:
    facts = pod_facts(
        mode=Mode.PASSENGER_SERVICES,
        record={},
        settings=SETTINGS,
        state=state,
        battery_percent=battery,
        has_position=position,
    )
    assert facts.why_not == why_not
    # 60 km when full, 20 % kept in reserve.
    assert facts.range_m == range_m
