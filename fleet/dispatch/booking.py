"""A booking as the planner sees it, and the promise made from where it was placed (pure).

A new request's own windows follow from what the caller asked (an earliest pickup or a
desired one with a tolerance, a latest drop-off or the settings' wait) and its direct
ride; once a pod takes it, it is promised windows around the planned times, within its
own, and those promises are what every later re-plan must keep.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.core.errors import InvalidInput
from fleet.dispatch.model import Assignment, Load, Request, Window
from fleet.dispatch.schemas import DispatchSettingsBody, RequestCreate
from fleet.rebalancing.model import Place
from fleet.rebalancing.travel import GreatCircle


@dataclass(frozen=True)
class Clock:
    """Planning seconds from `now` and back."""

    now: datetime

    def s(self, when: datetime) -> int:
        """Whole seconds from now (negative in the past)."""
        return int((when - self.now).total_seconds())

    def at(self, seconds: int) -> datetime:
        """The instant `seconds` from now."""
        return self.now + timedelta(seconds=seconds)


def travel_of(settings: DispatchSettingsBody) -> GreatCircle:
    """The pods' driving times."""
    return GreatCircle(detour=settings.detour_factor, speed_kmh=settings.speed_kmh)


def new_request(
    body: RequestCreate, settings: DispatchSettingsBody, clock: Clock, request_id: str
) -> Request:
    """A booking as the planner sees it: its own windows, before any promise."""
    pickup = Place(body.pickup.lat, body.pickup.lng)
    dropoff = Place(body.dropoff.lat, body.dropoff.lng)
    direct = int(travel_of(settings).seconds([pickup], [dropoff])[0, 0])
    max_ride = body.max_ride_s or round(direct * 1.5) + 300
    if body.desired_pickup is not None:
        earliest = clock.s(body.desired_pickup) - body.tolerance_s
        latest_pickup = clock.s(body.desired_pickup) + body.tolerance_s
    else:
        earliest = clock.s(body.earliest_pickup) if body.earliest_pickup else 0
        latest_pickup = earliest + settings.default_wait_s
    earliest = max(earliest, 0)
    ride_floor = settings.boarding_s + direct
    latest_dropoff = (
        clock.s(body.latest_dropoff)
        if body.latest_dropoff is not None
        else latest_pickup + settings.boarding_s + max_ride
    )
    latest_pickup = min(latest_pickup, latest_dropoff - ride_floor)
    if latest_pickup < earliest:
        field = "latest_dropoff" if body.latest_dropoff is not None else "desired_pickup"
        raise InvalidInput(
            f"{field} leaves no time for the ride itself ({ride_floor} s from the pickup)",
            fields=(field,),
        )
    parcel = body.parcel
    return Request(
        request_id=request_id,
        pickup=pickup,
        dropoff=dropoff,
        load=Load(
            seats=body.passengers,
            wheelchairs=body.wheelchairs,
            weight_g=round(parcel.weight_kg * 1000) if parcel else 0,
            volume_l=max(1, round(parcel.volume_l)) if parcel else 0,
        ),
        pickup_window=Window(earliest, latest_pickup),
        dropoff_window=Window(earliest + ride_floor, latest_dropoff),
        max_ride_s=max_ride,
        pickup_service_s=settings.boarding_s,
        dropoff_service_s=settings.alighting_s,
    )


def promise_of(
    request: Request, assignment: Assignment, settings: DispatchSettingsBody
) -> tuple[Window, Window]:
    """The windows promised around the planned starts, within the request's own."""
    early, late = settings.promise_early_s, settings.promise_late_s

    def around(planned: int, own: Window) -> Window:
        return Window(max(own.earliest_s, planned - early), min(own.latest_s, planned + late))

    return (
        around(assignment.pickup_start_s, request.pickup_window),
        around(assignment.dropoff_start_s, request.dropoff_window),
    )
