"""Dispatch over the API: a booking gets a pod and a promise at once (or 409 with the
reason), the pod's route goes out as a set_route command, the request follows the pod's
MDS events, cancellations and outcomes, bad input, roles and isolation between providers."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Mode, Role
from fleet.commands.models import Command
from fleet.dispatch.models import DispatchRequest, DispatchRequestChange, PodSchedule
from fleet.vehicles.models import Vehicle
from telemetry.hotstate.store import HotState, PositionUpdate, StateUpdate
from tests.conftest import Tenant, TenantFactory, auth
from tests.payloads import at_run_time, now_ms
from tests.rows import add_vehicle

STATION = (56.0440, 12.6940)  # Helsingborg C
NORTH = (56.0530, 12.6960)
SOUTH = (56.0330, 12.7000)


async def place_pod(
    redis: Redis, tenant: Tenant, device: uuid.UUID, at: tuple[float, float], battery: int = 90
) -> None:
    """The pod's live position, battery and state, as its telemetry and events leave them."""
    hot = HotState(redis)
    assert tenant.provider_id is not None
    ts = now_ms() - 5_000
    await hot.apply_positions(
        tenant.provider_id, [PositionUpdate(str(device), ts, at[0], at[1], battery, 0.0, "other")]
    )
    await hot.apply_states(tenant.provider_id, [StateUpdate(str(device), ts, "available", "other")])


async def pods(
    tenant: TenantFactory, session: AsyncSession, redis: Redis, *, count: int = 2
) -> tuple[Tenant, list[uuid.UUID]]:
    """A manager of a passenger-services operator with `count` pods, the first near the
    station (wheelchair accessible), the others further north."""
    manager = await tenant(Role.OPERATOR_MANAGER, Mode.PASSENGER_SERVICES)
    devices = []
    for k in range(count):
        device = await add_vehicle(session, manager.provider_id, vehicle_type="other")
        if k == 0:
            vehicle = await session.get_one(Vehicle, (manager.provider_id, device))
            vehicle.record = {"accessibility_attributes": ["wheelchair_accessible"]}
        await session.flush()
        await place_pod(redis, manager, device, STATION if k == 0 else NORTH)
        devices.append(device)
    return manager, devices


def ride(**fields: Any) -> dict[str, Any]:
    """A ride for one passenger from the station to the south, now."""
    body: dict[str, Any] = {
        "kind": "ride",
        "pickup": {"lat": STATION[0], "lng": STATION[1]},
        "dropoff": {"lat": SOUTH[0], "lng": SOUTH[1]},
        "passengers": 1,
    }
    body.update(fields)
    return body


async def counts(session: AsyncSession) -> tuple[int, int, int]:
    """Requests, request changes and set_route commands stored."""
    requests = await session.scalar(select(func.count()).select_from(DispatchRequest))
    changes = await session.scalar(select(func.count()).select_from(DispatchRequestChange))
    routes = await session.scalar(
        select(func.count()).select_from(Command).where(Command.kind == "set_route")
    )
    return int(requests or 0), int(changes or 0), int(routes or 0)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_a_ride_gets_the_nearest_pod_a_promise_and_a_route_at_once(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    manager, (near, _) = await pods(tenant, session, redis)
    before = datetime.now(UTC)
    response = await client.post("/v1/dispatch/requests", headers=auth(manager), json=ride())
    assert response.status_code == 201, response.text
    booked = response.json()
    assert booked["device_id"] == str(near)
    assert booked["state"] == "assigned"
    promise = booked["promise"]
    planned_pickup, planned_dropoff = (
        at(booked["planned_pickup_at"]),
        at(booked["planned_dropoff_at"]),
    )
    assert at(promise["pickup_from"]) <= planned_pickup <= at(promise["pickup_to"])
    assert at(promise["dropoff_from"]) <= planned_dropoff <= at(promise["dropoff_to"])
    assert before <= planned_pickup < planned_dropoff
    # The ride takes no longer than it may.
    assert (planned_dropoff - planned_pickup).total_seconds() <= booked["max_ride_s"] + 60
    assert [(h["from_state"], h["to_state"]) for h in booked["history"]] == [(None, "assigned")]

    schedule = await client.get(f"/v1/dispatch/pods/{near}/schedule", headers=auth(manager))
    assert schedule.status_code == 200
    stops = schedule.json()["stops"]
    assert [(s["request_id"], s["kind"]) for s in stops] == [
        (booked["request_id"], "pickup"),
        (booked["request_id"], "dropoff"),
    ]
    assert stops[0]["seats_after"] == 1
    assert stops[1]["seats_after"] == 0
    command = await session.get_one(Command, uuid.UUID(schedule.json()["command_id"]))
    assert (command.kind, command.state, str(command.device_id)) == (
        "set_route",
        "pending",
        str(near),
    )
    assert [s["trip_id"] for s in command.params["stops"]] == [booked["trip_id"]] * 2
    read = await client.get(f"/v1/dispatch/requests/{booked['request_id']}", headers=auth(manager))
    assert read.json() == booked


async def test_a_retry_with_the_same_request_id_returns_the_stored_request(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    manager, _ = await pods(tenant, session, redis)
    first = await client.post(
        "/v1/dispatch/requests", headers=auth(manager), json=ride(request_id="booking-1")
    )
    assert first.status_code == 201
    again = await client.post(
        "/v1/dispatch/requests", headers=auth(manager), json=ride(request_id="booking-1")
    )
    assert again.status_code == 200
    assert again.json()["request_id"] == first.json()["request_id"]
    stored = await counts(session)
    other = await client.post(
        "/v1/dispatch/requests",
        headers=auth(manager),
        json=ride(request_id="booking-1", passengers=2),
    )
    assert other.status_code == 409
    assert other.json()["detail"].startswith("request_id booking-1")
    assert await counts(session) == stored


async def test_a_second_ride_shares_or_takes_another_pod_without_breaking_the_first(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    manager, _ = await pods(tenant, session, redis)
    first = (await client.post("/v1/dispatch/requests", headers=auth(manager), json=ride())).json()
    second = await client.post(
        "/v1/dispatch/requests",
        headers=auth(manager),
        json=ride(pickup={"lat": NORTH[0], "lng": NORTH[1]}, passengers=2),
    )
    assert second.status_code == 201, second.text
    again = (
        await client.get(f"/v1/dispatch/requests/{first['request_id']}", headers=auth(manager))
    ).json()
    promise = first["promise"]
    assert at(promise["pickup_from"]) <= at(again["planned_pickup_at"]) <= at(promise["pickup_to"])
    assert (
        at(promise["dropoff_from"]) <= at(again["planned_dropoff_at"]) <= at(promise["dropoff_to"])
    )


def minutes_from_now(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (lambda: ride(passengers=9), "too_big"),
        (lambda: ride(passengers=0, wheelchairs=2), "too_big"),
        # Possible in itself (8 minutes' ride), but every pod is further than a minute away.
        (
            lambda: ride(
                pickup={"lat": SOUTH[0], "lng": SOUTH[1]},
                dropoff={"lat": STATION[0], "lng": STATION[1]},
                latest_dropoff=minutes_from_now(9),
            ),
            "no_time",
        ),
    ],
)
async def test_a_request_no_pod_can_serve_is_409_with_the_reason_and_nothing_stored(
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    redis: Redis,
    body: Callable[[], dict[str, Any]],
    reason: str,
) -> None:
    manager, _ = await pods(tenant, session, redis)
    response = await client.post("/v1/dispatch/requests", headers=auth(manager), json=body())
    assert response.status_code == 409, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["reason"] == reason
    assert "earliest_pickup" in problem
    assert await counts(session) == (0, 0, 0)


async def test_a_busy_fleet_answers_when_a_pod_could_pick_up(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    manager, _ = await pods(tenant, session, redis, count=1)
    # The pod is on a long ride; a second request wants a pickup within two minutes.
    far = {"lat": 56.10, "lng": 12.80}
    taken = await client.post(
        "/v1/dispatch/requests", headers=auth(manager), json=ride(dropoff=far, max_ride_s=7200)
    )
    assert taken.status_code == 201, taken.text
    soon = datetime.now(UTC) + timedelta(minutes=1)
    response = await client.post(
        "/v1/dispatch/requests",
        headers=auth(manager),
        json=ride(
            pickup={"lat": SOUTH[0], "lng": SOUTH[1]},
            dropoff={"lat": STATION[0], "lng": STATION[1]},
            desired_pickup=soon.isoformat(),
            tolerance_s=60,
        ),
    )
    assert response.status_code == 409, response.text
    problem = response.json()
    assert problem["reason"] == "no_time"
    assert problem["earliest_pickup"] is not None
    assert at(problem["earliest_pickup"]) > soon


async def test_an_operator_without_pods_is_told_so(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    scooters = await tenant(Role.OPERATOR_MANAGER, Mode.MICROMOBILITY)
    await add_vehicle(session, scooters.provider_id)
    response = await client.post("/v1/dispatch/requests", headers=auth(scooters), json=ride())
    assert response.status_code == 409
    assert response.json()["reason"] == "no_pods"


async def test_a_pod_below_its_battery_reserve_takes_no_requests(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    manager, (near, north) = await pods(tenant, session, redis)
    await place_pod(redis, manager, near, STATION, battery=10)
    listed = (await client.get("/v1/dispatch/pods", headers=auth(manager))).json()["data"]
    by_id = {p["device_id"]: p for p in listed}
    assert by_id[str(near)]["dispatchable"] is False
    assert "battery" in by_id[str(near)]["why_not"]
    assert by_id[str(north)]["dispatchable"] is True
    assert by_id[str(near)]["capacity"]["wheelchairs"] == 1
    assert by_id[str(north)]["capacity"]["wheelchairs"] == 0
    booked = await client.post("/v1/dispatch/requests", headers=auth(manager), json=ride())
    assert booked.json()["device_id"] == str(north)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"passengers": 0}, "a ride needs passengers"),
        ({"kind": "delivery"}, "a delivery needs a parcel"),
        ({"dropoff": {"lat": STATION[0], "lng": STATION[1]}}, "the same place"),
        ({"pickup": {"lat": 91, "lng": 12.7}}, "pickup.lat"),
        ({"passengers": -1}, "passengers"),
        ({"parcel": {"weight_kg": 2}}, "a ride carries no parcel"),
        ({"max_ride_s": 10}, "max_ride_s"),
        ({"earliest_pickup": "2026-12-06T10:00:00"}, "earliest_pickup"),
        ({"surprise": 1}, "surprise"),
        # Sooner than the ride itself takes.
        ({"latest_dropoff": lambda: minutes_from_now(3)}, "latest_dropoff"),
        (
            {
                "desired_pickup": "2030-01-01T10:00:00Z",
                "earliest_pickup": "2030-01-01T10:00:00Z",
            },
            "not both",
        ),
    ],
)
async def test_bad_bookings_are_422_naming_the_field_and_change_nothing(
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    redis: Redis,
    change: dict[str, Any],
    named: str,
) -> None:
    manager, _ = await pods(tenant, session, redis)
    response = await client.post(
        "/v1/dispatch/requests", headers=auth(manager), json=ride(**at_run_time(change))
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert named in response.json()["detail"], response.json()
    assert await counts(session) == (0, 0, 0)


async def gateway_events(
    client: AsyncClient, gateway: Tenant, device: uuid.UUID, trip: str, steps: list[tuple[str, str]]
) -> None:
    """Post the pod's events of one trip, a second apart, in one batch."""
    start = now_ms() - 60_000
    events = [
        {
            "device_id": str(device),
            "provider_id": str(gateway.provider_id),
            "event_id": str(uuid.uuid4()),
            "vehicle_state": state,
            "event_types": [kind],
            "timestamp": start + 1000 * k,
            "location": {"lat": STATION[0], "lng": STATION[1]},
            "trip_ids": [trip],
        }
        for k, (kind, state) in enumerate(steps)
    ]
    response = await client.post("/mds/agency/events", headers=gateway.headers, json=events)
    assert response.status_code == 201, response.text


async def test_the_request_follows_the_pods_events_to_delivered(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    manager, (near, _) = await pods(tenant, session, redis)
    gateway = await tenant(Role.GATEWAY, provider_id=manager.provider_id)
    booked = (await client.post("/v1/dispatch/requests", headers=auth(manager), json=ride())).json()
    path = f"/v1/dispatch/requests/{booked['request_id']}"
    await gateway_events(
        client,
        gateway,
        near,
        booked["trip_id"],
        [
            ("reservation_start", "reserved"),
            ("reservation_stop", "stopped"),
            ("trip_start", "on_trip"),
        ],
    )
    riding = (await client.get(path, headers=auth(manager))).json()
    assert riding["state"] == "picked_up"
    assert riding["picked_up_at"] is not None
    schedule = (
        await client.get(f"/v1/dispatch/pods/{near}/schedule", headers=auth(manager))
    ).json()
    assert [s["kind"] for s in schedule["stops"]] == ["dropoff"]
    # The passenger cannot cancel once on board.
    cancel = await client.post(f"{path}/cancel", headers=auth(manager))
    assert cancel.status_code == 409
    assert cancel.json()["allowed"] == ["delivered", "failed"]
    await gateway_events(
        client,
        gateway,
        near,
        booked["trip_id"],
        [("trip_stop", "stopped"), ("trip_end", "available")],
    )
    done = (await client.get(path, headers=auth(manager))).json()
    assert done["state"] == "delivered"
    assert [h["to_state"] for h in done["history"]] == ["assigned", "picked_up", "delivered"]
    assert done["history"][1]["actor"].startswith("event:")
    schedule = (
        await client.get(f"/v1/dispatch/pods/{near}/schedule", headers=auth(manager))
    ).json()
    assert schedule["stops"] == []


async def test_a_whole_ride_in_one_batch_passes_through_every_state(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    manager, (near, _) = await pods(tenant, session, redis)
    gateway = await tenant(Role.GATEWAY, provider_id=manager.provider_id)
    booked = (await client.post("/v1/dispatch/requests", headers=auth(manager), json=ride())).json()
    await gateway_events(
        client,
        gateway,
        near,
        booked["trip_id"],
        [
            ("reservation_start", "reserved"),
            ("reservation_stop", "stopped"),
            ("trip_start", "on_trip"),
            ("trip_stop", "stopped"),
            ("trip_end", "available"),
        ],
    )
    done = (
        await client.get(f"/v1/dispatch/requests/{booked['request_id']}", headers=auth(manager))
    ).json()
    assert done["state"] == "delivered"
    assert [h["to_state"] for h in done["history"]] == ["assigned", "picked_up", "delivered"]
    assert done["picked_up_at"] is not None
    assert at(done["picked_up_at"]) < at(done["finished_at"])
    # The pod's events were a minute old; the change is dated when fleetbed learnt it.
    assert at(done["updated_at"]) >= at(done["created_at"])
    assert at(done["history"][-1]["at"]) < at(done["created_at"])


async def test_another_pods_events_do_not_move_the_request(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    manager, (near, north) = await pods(tenant, session, redis)
    gateway = await tenant(Role.GATEWAY, provider_id=manager.provider_id)
    booked = (await client.post("/v1/dispatch/requests", headers=auth(manager), json=ride())).json()
    assert booked["device_id"] == str(near)
    await gateway_events(
        client, gateway, north, booked["trip_id"], [("reservation_start", "reserved")]
    )
    await gateway_events(
        client,
        gateway,
        north,
        booked["trip_id"],
        [("reservation_stop", "stopped"), ("trip_start", "on_trip")],
    )
    read = (
        await client.get(f"/v1/dispatch/requests/{booked['request_id']}", headers=auth(manager))
    ).json()
    assert read["state"] == "assigned"


async def test_cancelling_drops_the_stops_and_sends_the_pod_a_new_route(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    manager, (near, _) = await pods(tenant, session, redis)
    booked = (await client.post("/v1/dispatch/requests", headers=auth(manager), json=ride())).json()
    path = f"/v1/dispatch/requests/{booked['request_id']}"
    first = (await client.get(f"/v1/dispatch/pods/{near}/schedule", headers=auth(manager))).json()
    cancelled = await client.post(
        f"{path}/cancel", headers=auth(manager), json={"reason": "plans changed"}
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["reason"] == "plans changed"
    after = (await client.get(f"/v1/dispatch/pods/{near}/schedule", headers=auth(manager))).json()
    assert after["stops"] == []
    assert after["version"] == first["version"] + 1
    old = await session.get_one(Command, uuid.UUID(first["command_id"]))
    await session.refresh(old)
    assert old.state == "expired"
    again = await client.post(f"{path}/cancel", headers=auth(manager))
    assert again.status_code == 409
    assert again.json()["allowed"] == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("cancel", {"reason": "nul\u0000inside"}),
        ("cancel", {"reason": "x" * 201}),
        ("outcome", {"state": "failed", "reason": "nul\u0000inside"}),
    ],
)
async def test_a_bad_reason_is_422_and_leaves_the_request_as_it_was(
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    redis: Redis,
    path: str,
    body: dict[str, Any],
) -> None:
    manager, _ = await pods(tenant, session, redis)
    booked = (await client.post("/v1/dispatch/requests", headers=auth(manager), json=ride())).json()
    url = f"/v1/dispatch/requests/{booked['request_id']}"
    response = await client.post(f"{url}/{path}", headers=auth(manager), json=body)
    assert response.status_code == 422, response.text
    assert "reason" in response.json()["detail"]
    assert (await client.get(url, headers=auth(manager))).json() == booked


async def test_operators_record_no_shows_and_dispatchers_may_not(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    manager, _ = await pods(tenant, session, redis)
    dispatcher = await tenant(Role.DISPATCHER, provider_id=manager.provider_id)
    booked = await client.post("/v1/dispatch/requests", headers=auth(dispatcher), json=ride())
    assert booked.status_code == 201
    path = f"/v1/dispatch/requests/{booked.json()['request_id']}"
    assert (await client.get(path, headers=auth(dispatcher))).status_code == 200
    denied = await client.post(
        f"{path}/outcome", headers=auth(dispatcher), json={"state": "no_show"}
    )
    assert denied.status_code == 403
    bad = await client.post(f"{path}/outcome", headers=auth(manager), json={"state": "lost"})
    assert bad.status_code == 422
    shown = await client.post(f"{path}/outcome", headers=auth(manager), json={"state": "no_show"})
    assert shown.status_code == 200
    assert shown.json()["state"] == "no_show"
    settings = await client.put("/v1/dispatch/settings", headers=auth(dispatcher), json={})
    assert settings.status_code == 403


async def test_another_operators_requests_and_pods_are_not_found(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    manager, (near, _) = await pods(tenant, session, redis)
    other, _ = await pods(tenant, session, redis, count=1)
    booked = (await client.post("/v1/dispatch/requests", headers=auth(manager), json=ride())).json()
    path = f"/v1/dispatch/requests/{booked['request_id']}"
    assert (await client.get(path, headers=auth(other))).status_code == 404
    assert (await client.post(f"{path}/cancel", headers=auth(other))).status_code == 404
    assert (
        await client.get(f"/v1/dispatch/pods/{near}/schedule", headers=auth(other))
    ).status_code == 404
    listed = (await client.get("/v1/dispatch/requests", headers=auth(other))).json()
    assert listed["data"] == []
    pods_seen = (await client.get("/v1/dispatch/pods", headers=auth(other))).json()["data"]
    assert str(near) not in {p["device_id"] for p in pods_seen}
    still = (await client.get(path, headers=auth(manager))).json()
    assert still["state"] == "assigned"


async def test_requests_are_listed_by_change_and_followed_with_next_since(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    manager, _ = await pods(tenant, session, redis)
    ids = []
    for _ in range(3):
        made = await client.post("/v1/dispatch/requests", headers=auth(manager), json=ride())
        ids.append(made.json()["request_id"])
    page = (await client.get("/v1/dispatch/requests?limit=2", headers=auth(manager))).json()
    assert [r["request_id"] for r in page["data"]] == ids[:2]
    rest = (
        await client.get(
            "/v1/dispatch/requests", headers=auth(manager), params={"since": page["next_since"]}
        )
    ).json()
    assert [r["request_id"] for r in rest["data"]] == ids[2:]
    await client.post(f"/v1/dispatch/requests/{ids[0]}/cancel", headers=auth(manager))
    changed = (
        await client.get(
            "/v1/dispatch/requests", headers=auth(manager), params={"since": rest["next_since"]}
        )
    ).json()
    assert [r["request_id"] for r in changed["data"]] == [ids[0]]
    cancelled = (
        await client.get("/v1/dispatch/requests?state=cancelled", headers=auth(manager))
    ).json()
    assert [r["request_id"] for r in cancelled["data"]] == [ids[0]]
    bad = await client.get("/v1/dispatch/requests?since=yesterday", headers=auth(manager))
    assert bad.status_code == 422
    assert "since" in bad.json()["detail"]


async def test_settings_default_until_set_and_refuse_bad_values(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    manager, (_near, _) = await pods(tenant, session, redis)
    defaults = (await client.get("/v1/dispatch/settings", headers=auth(manager))).json()
    assert defaults["seats"] == 4
    put = await client.put("/v1/dispatch/settings", headers=auth(manager), json={"seats": 2})
    assert put.status_code == 200
    assert (await client.get("/v1/dispatch/settings", headers=auth(manager))).json()["seats"] == 2
    listed = (await client.get("/v1/dispatch/pods", headers=auth(manager))).json()["data"]
    assert {p["capacity"]["seats"] for p in listed} == {2}
    bad = await client.put("/v1/dispatch/settings", headers=auth(manager), json={"seats": -1})
    assert bad.status_code == 422
    assert "seats" in bad.json()["detail"]
    assert (await client.get("/v1/dispatch/settings", headers=auth(manager))).json()["seats"] == 2
    too_big = await client.post(
        "/v1/dispatch/requests", headers=auth(manager), json=ride(passengers=3)
    )
    assert too_big.status_code == 409
    assert too_big.json()["reason"] == "too_big"


async def test_the_dispatcher_cannot_send_routes_by_hand(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    manager, (near, _) = await pods(tenant, session, redis)
    response = await client.post(
        f"/v1/vehicles/{near}/commands", headers=auth(manager), json={"kind": "set_route"}
    )
    assert response.status_code == 422
    assert await session.scalar(select(func.count()).select_from(PodSchedule)) == 0
