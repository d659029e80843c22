"""A booking's own windows and the promise made once a pod takes it (pure)."""

from datetime import UTC, datetime, timedelta

import pytest

from app.core.errors import InvalidInput
from fleet.dispatch.booking import Clock, new_request, promise_of, travel_of
from fleet.dispatch.model import Assignment, Load, Window
from fleet.dispatch.schemas import DispatchSettingsBody, RequestCreate
from fleet.rebalancing.model import Place

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
CLOCK = Clock(NOW)
SETTINGS = DispatchSettingsBody()
FROM = {"lat": 56.0440, "lng": 12.6940}
TO = {"lat": 56.0530, "lng": 12.6960}


def booking(**fields: object) -> RequestCreate:
    return RequestCreate.model_validate(
        {"kind": "ride", "pickup": FROM, "dropoff": TO, "passengers": 2, **fields}
    )


def direct_s() -> int:
    here, there = Place(FROM["lat"], FROM["lng"]), Place(TO["lat"], TO["lng"])
    return int(travel_of(SETTINGS).seconds([here], [there])[0, 0])


def test_a_ride_now_may_wait_the_default_and_ride_half_again_its_direct_time() -> None:
    request = new_request(booking(), SETTINGS, CLOCK, "r")
    direct = direct_s()
    assert request.max_ride_s == round(direct * 1.5) + 300
    assert request.pickup_window == Window(0, SETTINGS.default_wait_s)
    assert request.dropoff_window.earliest_s == SETTINGS.boarding_s + direct
    assert request.dropoff_window.latest_s == (
        SETTINGS.default_wait_s + SETTINGS.boarding_s + request.max_ride_s
    )
    assert request.load == Load(seats=2)
    assert (request.pickup_service_s, request.dropoff_service_s) == (60, 60)


def test_a_desired_pickup_is_a_window_of_its_tolerance_either_side() -> None:
    wanted = NOW + timedelta(minutes=30)
    request = new_request(
        booking(desired_pickup=wanted.isoformat(), tolerance_s=300), SETTINGS, CLOCK, "r"
    )
    assert request.pickup_window == Window(1500, 2100)


def test_a_pickup_in_the_past_starts_now_and_a_latest_dropoff_bounds_the_pickup() -> None:
    latest = NOW + timedelta(minutes=20)
    request = new_request(
        booking(
            earliest_pickup=(NOW - timedelta(minutes=5)).isoformat(),
            latest_dropoff=latest.isoformat(),
        ),
        SETTINGS,
        CLOCK,
        "r",
    )
    assert request.pickup_window.earliest_s == 0
    assert request.dropoff_window.latest_s == 1200
    assert request.pickup_window.latest_s == 1200 - SETTINGS.boarding_s - direct_s()


def test_a_parcel_is_carried_in_grams_and_whole_litres() -> None:
    parcel = RequestCreate.model_validate(
        {
            "kind": "delivery",
            "pickup": FROM,
            "dropoff": TO,
            "parcel": {"weight_kg": 2.345, "volume_l": 0.2},
        }
    )
    assert new_request(parcel, SETTINGS, CLOCK, "p").load == Load(weight_g=2345, volume_l=1)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"latest_dropoff": (NOW + timedelta(minutes=2)).isoformat()}, "latest_dropoff"),
        ({"desired_pickup": (NOW - timedelta(hours=1)).isoformat()}, "desired_pickup"),
    ],
)
def test_a_window_that_leaves_no_time_for_the_ride_is_refused(
    fields: dict[str, object], named: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        new_request(booking(**fields), SETTINGS, CLOCK, "r")
    assert refused.value.fields == (named,)


def test_the_promise_surrounds_the_planned_times_within_the_own_windows() -> None:
    request = new_request(booking(), SETTINGS, CLOCK, "r")
    placed = Assignment("r", "pod", (), pickup_start_s=60, dropoff_start_s=900, added_drive_s=0)
    pickup, dropoff = promise_of(request, placed, SETTINGS)
    # Not earlier than the request's own earliest, 10 minutes later than planned at most.
    assert pickup == Window(0, 60 + SETTINGS.promise_late_s)
    assert dropoff == Window(900 - SETTINGS.promise_early_s, 900 + SETTINGS.promise_late_s)
    late = Assignment("r", "pod", (), 3500, 3550 + direct_s(), 0)
    pickup, _ = promise_of(request, late, SETTINGS)
    assert pickup.latest_s == request.pickup_window.latest_s
