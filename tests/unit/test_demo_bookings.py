"""The simulator's pod dispatch offline: the customers' bookings (pure), a `set_route`
read into stops, the events of a pod's stops against the mode's state table and the
request's life, and a dispatched pod driving a route in a simulated world."""

import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from app.core.auth import Mode
from app.core.mstime import from_ms, to_ms
from demo.city import OPERATORS
from demo.fleet_plan import plan_fleet
from demo.simulator import demand
from demo.simulator.batches import Batch, Endpoint
from demo.simulator.bookings import TOLERANCE_S, Booking, BookingStream, ServiceTally
from demo.simulator.citymap import distance
from demo.simulator.controls import Controls, execute
from demo.simulator.misbehaviour import Rates
from demo.simulator.pods import DROPOFF, PICKUP, parse_route, visit
from demo.simulator.report import Report
from demo.simulator.rides import MIN_RIDE_M
from demo.simulator.vehicle import Environment, reach_of
from demo.simulator.world import Provider, World
from demo.summary import PodService, ServerHealth, Snapshot, parse_simulator_status, render_screen
from fleet.dispatch.schemas import RequestCreate
from fleet.dispatch.states import RequestState, after_event
from fleet.events.state_machines import STATE_MACHINES
from tests.unit.city_maps import CMAP

TZ = ZoneInfo("Europe/Stockholm")
# Tuesday 2026-05-12, 00:00 local time.
MIDNIGHT_MS = to_ms(datetime(2026, 5, 12, tzinfo=TZ))
HOUR_MS = 3_600_000
MINUTE_MS = 60_000


def stream(
    mode: Mode, per_hour: float = 30.0, seed: int = 1, steady: bool = False
) -> BookingStream:
    """An operator's customers at `per_hour` on average over the day (the city's rhythm
    unless `steady`)."""

    def rate(ts_ms: int) -> float:
        return per_hour * (1.0 if steady else demand.activity(ts_ms, TZ, 0.5))

    return BookingStream(mode, CMAP, TZ, random.Random(seed), rate, MIDNIGHT_MS)


# --- bookings ----------------------------------------------------------------------------


def test_the_same_seed_books_the_same_day() -> None:
    day = MIDNIGHT_MS + 24 * HOUR_MS
    assert stream(Mode.PASSENGER_SERVICES).due(day) == stream(Mode.PASSENGER_SERVICES).due(day)
    assert stream(Mode.PASSENGER_SERVICES).due(day) != stream(Mode.PASSENGER_SERVICES, seed=2).due(
        day
    )


def test_bookings_follow_the_days_profile_around_the_stated_rate() -> None:
    made = stream(Mode.PASSENGER_SERVICES).due(MIDNIGHT_MS + 24 * HOUR_MS)
    by_hour = Counter(from_ms(b.at_ms).astimezone(TZ).hour for b in made)
    assert 0.8 * 30 * 24 < len(made) < 1.2 * 30 * 24
    # The morning peak is far busier than the small hours.
    assert by_hour[7] + by_hour[8] > 5 * (by_hour[2] + by_hour[3])
    assert [b.at_ms for b in made] == sorted(b.at_ms for b in made)
    assert len({b.client_id for b in made}) == len(made)


def test_a_stream_books_in_steps_as_it_does_at_once() -> None:
    at_once = stream(Mode.DELIVERY_ROBOTS, steady=True).due(MIDNIGHT_MS + 6 * HOUR_MS)
    stepped = stream(Mode.DELIVERY_ROBOTS, steady=True)
    in_steps = [
        b for t in range(MIDNIGHT_MS, MIDNIGHT_MS + 6 * HOUR_MS + 1, 10_000) for b in stepped.due(t)
    ]
    assert in_steps == at_once


@pytest.mark.parametrize("mode", [Mode.PASSENGER_SERVICES, Mode.DELIVERY_ROBOTS])
def test_customers_book_from_the_hotspots_within_a_pods_reach(mode: Mode) -> None:
    made = stream(mode, steady=True).due(MIDNIGHT_MS + 12 * HOUR_MS)
    reach = reach_of(mode, plan_fleet(1, [o for o in OPERATORS if o.mode is mode])[0].vehicle_type)
    for booking in made:
        pickup, dropoff = CMAP.frame.to_xy(*booking.pickup), CMAP.frame.to_xy(*booking.dropoff)
        assert min(distance(pickup, h) for h in CMAP.hotspot_xy) < 600
        assert MIN_RIDE_M <= distance(pickup, dropoff) <= reach.max_m + 600
        assert CMAP.can_park(pickup)
        assert CMAP.can_park(dropoff)
    ahead = [b for b in made if b.desired_ms is not None]
    assert 0.1 * len(made) < len(ahead) < 0.3 * len(made)
    assert all(20 * MINUTE_MS <= b.wanted_ms - b.at_ms <= 60 * MINUTE_MS for b in ahead)


@pytest.mark.parametrize("mode", [Mode.PASSENGER_SERVICES, Mode.DELIVERY_ROBOTS])
def test_every_booking_is_a_request_the_api_takes(mode: Mode) -> None:
    for booking in stream(mode, steady=True).due(MIDNIGHT_MS + 4 * HOUR_MS):
        parsed = RequestCreate.model_validate(booking.body(server_ahead_ms=0))
        assert parsed.kind.value == ("ride" if mode is Mode.PASSENGER_SERVICES else "delivery")
        assert (parsed.passengers > 0) == (parsed.parcel is None)
        assert parsed.request_id == booking.client_id


def test_a_wished_pickup_is_sent_on_the_servers_clock() -> None:
    booking = Booking(
        at_ms=MIDNIGHT_MS,
        client_id="sim-1",
        kind="ride",
        pickup=(56.044, 12.694),
        dropoff=(56.025, 12.729),
        passengers=2,
        desired_ms=MIDNIGHT_MS + 30 * MINUTE_MS,
    )
    body = booking.body(server_ahead_ms=2 * HOUR_MS)
    wished = datetime.fromisoformat(body["desired_pickup"])
    assert wished == from_ms(MIDNIGHT_MS) + timedelta(hours=2, minutes=30)
    assert (body["tolerance_s"], body["passengers"], booking.wanted_ms) == (
        TOLERANCE_S,
        2,
        MIDNIGHT_MS + 30 * MINUTE_MS,
    )
    assert "earliest_pickup" not in Booking(**{**booking.__dict__, "desired_ms": None}).body(0)


def test_the_tally_reports_waits_refusals_and_occupancy() -> None:
    tally = ServiceTally(booked=4, picked_up=3, delivered=2, pods=5, busy=2, carrying=1, aboard=1)
    tally.refused["no_time"] += 1
    tally.waits_s.extend([60.0, 240.0, 600.0])
    status = tally.status()
    assert status["refused"] == {"no_time": 1}
    assert (status["wait_median_s"], status["wait_p90_s"]) == (240.0, 600.0)
    assert ServiceTally().status()["wait_median_s"] is None
    assert "4 booked, refused no_time 1, 3 picked up, 2 delivered" in tally.describe()


# --- routes and the events of their stops ------------------------------------------------


def stop(request: str, kind: str, place: tuple[float, float], start_ms: int) -> dict[str, Any]:
    """A stop as the server's `set_route` carries it."""
    start = from_ms(start_ms)
    return {
        "request_id": request,
        "trip_id": str(uuid.uuid5(uuid.NAMESPACE_URL, request)),
        "kind": kind,
        "lat": place[0],
        "lng": place[1],
        "arrive_at": start.isoformat(),
        "start_at": start.isoformat(),
        "depart_at": (start + timedelta(seconds=60)).isoformat(),
        "window_from": start.isoformat(),
        "window_to": (start + timedelta(minutes=10)).isoformat(),
        "seats_after": 1,
        "wheelchairs_after": 0,
        "weight_g_after": 0,
    }


def test_a_set_route_is_read_into_stops_and_moved_to_the_simulated_clock() -> None:
    params = {"version": 3, "stops": [stop("a", PICKUP, (56.04, 12.69), MIDNIGHT_MS)]}
    route = parse_route(params)
    assert route is not None
    assert route.version == 3
    [first] = route.stops
    assert (first.kind, first.start_ms, first.depart_ms) == (
        PICKUP,
        MIDNIGHT_MS,
        MIDNIGHT_MS + 60_000,
    )
    [moved] = route.shifted(-HOUR_MS).stops
    assert (moved.start_ms, moved.depart_ms) == (
        MIDNIGHT_MS - HOUR_MS,
        MIDNIGHT_MS - HOUR_MS + 60_000,
    )
    for bad in (None, {}, {"version": "3", "stops": []}, {"version": 1, "stops": [{"kind": "x"}]}):
        assert parse_route(bad) is None


def test_the_gateway_keeps_the_newest_route_and_acks_every_one() -> None:
    controls = Controls()
    newer = {"version": 2, "stops": [stop("a", PICKUP, (56.04, 12.69), MIDNIGHT_MS)]}
    assert execute(controls, "set_route", newer) == ("done", "route v2: 1 stops")
    assert execute(controls, "set_route", {"version": 1, "stops": []})[0] == "done"
    assert controls.route is not None
    assert controls.route.version == 2
    assert execute(controls, "set_route", {"stops": []}) == (
        "rejected",
        "set_route needs a version and stops",
    )


ORDERS = {
    "one ride": [("a", PICKUP), ("a", DROPOFF)],
    "two in a row": [("a", PICKUP), ("a", DROPOFF), ("b", PICKUP), ("b", DROPOFF)],
    "pooled, first in first out": [("a", PICKUP), ("b", PICKUP), ("a", DROPOFF), ("b", DROPOFF)],
    "pooled, nested": [("a", PICKUP), ("b", PICKUP), ("b", DROPOFF), ("a", DROPOFF)],
}


def events_of(mode: Mode, order: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(event type, vehicle state, trip) of each event a pod sends along `order`."""
    state, events = "available", []
    for trip, kind in order:
        steps = visit(mode, state, kind)
        for step in (steps.set_out, steps.arrive, steps.serve):
            if step is not None:
                events.append((step.event_type, step.state, trip))
                state = step.state
    return events


@pytest.mark.parametrize("mode", [Mode.PASSENGER_SERVICES, Mode.DELIVERY_ROBOTS])
@pytest.mark.parametrize("order", ORDERS.values(), ids=ORDERS.keys())
def test_each_stop_sends_events_the_state_table_allows_and_each_request_is_delivered(
    mode: Mode, order: list[tuple[str, str]]
) -> None:
    machine = STATE_MACHINES[mode]
    prior = "available"
    requests = {trip: RequestState.ASSIGNED for trip, _ in order}
    for event_type, state, trip in events_of(mode, order):
        assert machine.pairing_ok(state, [event_type])
        assert machine.transition_allowed(prior, [event_type], state), (prior, event_type)
        prior = state
        moved = after_event(requests[trip], [event_type])
        requests[trip] = moved or requests[trip]
    assert set(requests.values()) == {RequestState.DELIVERED}
    assert prior == "available"


def test_a_robot_carrying_goods_reports_its_pick_ups_and_drop_offs_as_orders() -> None:
    pooled = ORDERS["pooled, first in first out"]
    assert [e[0] for e in events_of(Mode.DELIVERY_ROBOTS, pooled)] == [
        "reservation_start",
        "reservation_stop",
        "trip_start",
        "order_pick_up",
        "trip_start",
        "order_drop_off",
        "trip_end",
        "reservation_start",
        "reservation_stop",
        "trip_end",
    ]
    assert [e[0] for e in events_of(Mode.PASSENGER_SERVICES, pooled)][3:6] == [
        "trip_stop",
        "trip_start",
        "trip_stop",
    ]


# --- a dispatched pod in the simulated world ---------------------------------------------

PODS = next(op for op in OPERATORS if op.mode is Mode.PASSENGER_SERVICES)
START_MS = MIDNIGHT_MS + 10 * HOUR_MS
STATION = (56.0440, 12.6940)
BERGA = (56.0255, 12.7290)


def pod_world() -> World:
    env = Environment(CMAP, TZ, Rates.uniform(0.0), trips_per_day=0.01)
    provider = Provider(PODS.key, str(PODS.provider_id), PODS.mode)
    return World(
        plan_fleet(2, [PODS]),
        [provider],
        env,
        seed=3,
        start_ms=START_MS,
        max_batch=5000,
        dispatched={PODS.key},
    )


def events(batches: list[Batch], device: str) -> list[dict[str, Any]]:
    found = [i for b in batches if b.endpoint is Endpoint.EVENTS for i in b.items]
    return sorted((i for i in found if i["device_id"] == device), key=lambda i: i["timestamp"])


def test_a_dispatched_pod_drives_its_route_and_serves_each_stop_no_earlier_than_planned() -> None:
    world = pod_world()
    pod, other = world.pods(PODS.key)
    batches = world.advance(START_MS + MINUTE_MS)
    pickup_at = START_MS + 40 * MINUTE_MS  # later than the pod needs to get there
    params: dict[str, Any] = {
        "version": 1,
        "stops": [
            stop("a", PICKUP, STATION, pickup_at),
            stop("a", DROPOFF, BERGA, pickup_at + 20 * MINUTE_MS),
        ],
    }
    assert execute(pod.controls, "set_route", params)[0] == "done"
    route = pod.controls.route
    assert route is not None
    pod.follow(route, START_MS + MINUTE_MS)
    for t in range(START_MS + 2 * MINUTE_MS, START_MS + 3 * HOUR_MS, MINUTE_MS):
        batches += world.advance(t)

    trip = params["stops"][0]["trip_id"]
    sent = [
        (e["event_types"], e["vehicle_state"], e.get("trip_ids"))
        for e in events(batches, pod.device_id)
    ]
    assert sent == [
        (["service_start"], "available", None),
        (["reservation_start"], "reserved", [trip]),
        (["reservation_stop"], "stopped", [trip]),
        (["trip_start"], "on_trip", [trip]),
        (["trip_stop"], "stopped", [trip]),
        (["trip_end"], "available", [trip]),
    ]
    picked, dropped = pod.served
    assert picked.start_ms == pickup_at
    assert picked.aboard == 1
    assert dropped.start_ms >= picked.end_ms
    assert dropped.aboard == 0
    end = next(e for e in events(batches, pod.device_id) if e["event_types"] == ["trip_end"])
    assert (
        distance(
            CMAP.frame.to_xy(end["location"]["lat"], end["location"]["lng"]),
            CMAP.frame.to_xy(*BERGA),
        )
        < 10
    )
    # Nothing sent, nothing done: the other pod waits where it is.
    assert [e["event_types"] for e in events(batches, other.device_id)] == [["service_start"]]
    assert pod.work.next_stop() is None


def test_a_newer_route_takes_over_on_the_way_and_a_served_stop_is_not_served_again() -> None:
    world = pod_world()
    pod, _ = world.pods(PODS.key)
    world.advance(START_MS + MINUTE_MS)
    first: dict[str, Any] = {
        "version": 1,
        "stops": [stop("a", PICKUP, BERGA, START_MS), stop("a", DROPOFF, STATION, START_MS)],
    }
    execute(pod.controls, "set_route", first)
    assert pod.controls.route is not None
    pod.follow(pod.controls.route, START_MS + MINUTE_MS)
    batches = world.advance(START_MS + 2 * MINUTE_MS)
    # On the way to Berga, a rider at the station comes first.
    b_pickup = stop("b", PICKUP, STATION, START_MS)
    second: dict[str, Any] = {
        "version": 2,
        "stops": [b_pickup, *first["stops"], stop("b", DROPOFF, BERGA, START_MS)],
    }
    execute(pod.controls, "set_route", second)
    assert pod.controls.route is not None
    pod.follow(pod.controls.route, START_MS + 2 * MINUTE_MS)
    for t in range(START_MS + 3 * MINUTE_MS, START_MS + 3 * HOUR_MS, MINUTE_MS):
        batches += world.advance(t)
    served = [(s.stop.request_id, s.stop.kind) for s in pod.served]
    assert served == [("b", PICKUP), ("a", PICKUP), ("a", DROPOFF), ("b", DROPOFF)]
    trips = Counter(
        (e["trip_ids"][0], e["event_types"][0])
        for e in events(batches, pod.device_id)
        if e.get("trip_ids")
    )
    assert all(trips[(s["trip_id"], "trip_start")] == 1 for s in second["stops"])
    assert all(trips[(s["trip_id"], "trip_end")] == 1 for s in second["stops"])


# --- the demo summary --------------------------------------------------------------------


def test_the_summary_shows_each_pod_operators_bookings_waits_and_occupancy() -> None:
    report = Report()
    tally = report.dispatch.setdefault("printpod-passenger", ServiceTally())
    tally.booked, tally.delivered, tally.pods, tally.carrying, tally.aboard = 34, 25, 18, 7, 9
    tally.refused.update({"no_time": 2, "no_pods": 1})
    tally.waits_s.extend([120.0, 300.0, 540.0])
    status = parse_simulator_status(orjson.dumps(report.status({}, {})))
    assert status is not None
    assert status.dispatch == (PodService("printpod-passenger", 34, 3, 25, 300.0, 540.0, 18, 7, 9),)
    now = datetime.now(UTC)
    health = ServerHealth(ready=True, failing=(), agency_requests={})
    lines = render_screen(
        Snapshot(now, None, "down", health, status),
        None,
        started=now,
        base_url="http://127.0.0.1:8000",
        logs=("server.log", "simulator.log"),
    )
    [line] = [line.split() for line in lines if line.strip().startswith("printpod-passenger")]
    assert line == [
        "printpod-passenger",
        "34",
        "3",
        "25",
        "5.0",
        "/",
        "9.0",
        "min",
        "7/18",
        "(9",
        "aboard)",
    ]
    quiet = parse_simulator_status(orjson.dumps(Report().status({}, {})))
    assert quiet is not None
    assert not quiet.dispatch
