"""Re-optimising the pods' schedules: promises kept, never more driving, new routes sent,
and a round that a booking overtook stores nothing."""

import asyncio
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from fleet.commands.models import Command
from fleet.dispatch.runner import Reoptimiser
from fleet.dispatch.schedules import check, timed, total_drive_s
from fleet.dispatch.service import problem_of
from tests.conftest import Tenant, TenantFactory, auth
from tests.test_dispatch_api import (
    NORTH,
    SOUTH,
    STATION,
    at,
    gateway_events,
    place_pod,
    pods,
    ride,
)

EAST = (56.0450, 12.7250)
WEST = (56.0420, 12.6850)


async def book_crossing_rides(client: AsyncClient, manager: Tenant) -> list[dict[str, object]]:
    """Rides booked one by one in an order that insertion alone serves poorly."""
    legs = [(STATION, EAST), (NORTH, SOUTH), (WEST, EAST), (SOUTH, NORTH), (EAST, WEST)]
    booked = []
    for origin, destination in legs:
        response = await client.post(
            "/v1/dispatch/requests",
            headers=auth(manager),
            json=ride(
                pickup={"lat": origin[0], "lng": origin[1]},
                dropoff={"lat": destination[0], "lng": destination[1]},
            ),
        )
        assert response.status_code == 201, response.text
        booked.append(response.json())
    return booked


async def routes_sent(session: AsyncSession) -> int:
    count = await session.scalar(
        select(func.count()).select_from(Command).where(Command.kind == "set_route")
    )
    return int(count or 0)


async def test_a_round_keeps_every_promise_and_drives_no_more(
    app: FastAPI, client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    manager, _ = await pods(tenant, session, redis)
    assert manager.provider_id is not None
    booked = await book_crossing_rides(client, manager)
    reoptimiser: Reoptimiser = app.state.dispatch
    now = datetime.now(UTC)
    before = problem_of(await reoptimiser.read(manager.provider_id, now=now))
    driven = total_drive_s(
        {p.pod_id: timed(before, p, before.orders[p.pod_id]) for p in before.pods}
    )
    sent = await routes_sent(session)

    improved = await reoptimiser.reoptimise(manager.provider_id, now=now)

    after = problem_of(await reoptimiser.read(manager.provider_id, now=now))
    schedules = {p.pod_id: timed(after, p, after.orders[p.pod_id]) for p in after.pods}
    assert check(after, schedules) == []
    assert total_drive_s(schedules) <= driven
    assert (await routes_sent(session) > sent) == improved
    for request in booked:
        read = (
            await client.get(
                f"/v1/dispatch/requests/{request['request_id']}", headers=auth(manager)
            )
        ).json()
        promise = read["promise"]
        assert (
            at(promise["pickup_from"]) <= at(read["planned_pickup_at"]) <= at(promise["pickup_to"])
        )
        assert (
            at(promise["dropoff_from"])
            <= at(read["planned_dropoff_at"])
            <= at(promise["dropoff_to"])
        )


async def test_a_round_overtaken_by_a_booking_stores_nothing(
    app: FastAPI, client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    manager, _ = await pods(tenant, session, redis)
    assert manager.provider_id is not None
    await book_crossing_rides(client, manager)
    reoptimiser: Reoptimiser = app.state.dispatch
    now = datetime.now(UTC)
    read = await reoptimiser.read(manager.provider_id, now=now)
    problem = problem_of(read)
    # Every pod's schedule emptied: stored, this would break every promise.
    emptied = {p.pod_id: timed(problem, p, ()) for p in problem.pods}
    late = await client.post("/v1/dispatch/requests", headers=auth(manager), json=ride())
    assert late.status_code == 201
    sent = await routes_sent(session)
    assert await reoptimiser.store(read, problem, emptied) is False
    assert await routes_sent(session) == sent
    schedule = (
        await client.get(
            f"/v1/dispatch/pods/{late.json()['device_id']}/schedule", headers=auth(manager)
        )
    ).json()
    assert late.json()["request_id"] in {s["request_id"] for s in schedule["stops"]}


async def test_a_provider_without_requests_needs_no_round(
    app: FastAPI, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    manager, _ = await pods(tenant, session, redis)
    assert manager.provider_id is not None
    reoptimiser: Reoptimiser = app.state.dispatch
    assert await reoptimiser.reoptimise(manager.provider_id, now=datetime.now(UTC)) is False
    assert await routes_sent(session) == 0


async def test_a_change_wakes_the_round_before_its_interval(
    app: FastAPI, client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    manager, _ = await pods(tenant, session, redis)
    await book_crossing_rides(client, manager)
    running: Reoptimiser = app.state.dispatch
    reoptimiser = Reoptimiser(
        executor=running.executor,
        sessions=running.sessions,
        hot=running.hot,
        time_limit_s=0.5,
        interval_s=3600,
        publish=running.publish,
    )
    reoptimiser.soon()
    # Woken, the round runs at once rather than an hour later.
    await asyncio.wait_for(reoptimiser.step(), timeout=60)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reoptimiser.step(), timeout=0.5)


async def test_a_request_moved_to_another_pod_follows_that_pods_events(
    app: FastAPI, client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    manager, (near, north) = await pods(tenant, session, redis)
    assert manager.provider_id is not None
    booked = (await client.post("/v1/dispatch/requests", headers=auth(manager), json=ride())).json()
    assert booked["device_id"] == str(near)
    reoptimiser: Reoptimiser = app.state.dispatch
    read = await reoptimiser.read(manager.provider_id, now=datetime.now(UTC))
    problem = problem_of(read)
    pods_by_id = {p.pod_id: p for p in problem.pods}
    moved = {
        str(near): timed(problem, pods_by_id[str(near)], ()),
        str(north): timed(problem, pods_by_id[str(north)], problem.orders[str(near)]),
    }
    assert await reoptimiser.store(read, problem, moved) is True
    path = f"/v1/dispatch/requests/{booked['request_id']}"
    now_on = (await client.get(path, headers=auth(manager))).json()
    assert now_on["device_id"] == str(north)
    assert now_on["history"][-1]["message"] == f"moved to pod {north}"
    assert now_on["state"] == "assigned"
    schedules = {
        d: (await client.get(f"/v1/dispatch/pods/{d}/schedule", headers=auth(manager))).json()
        for d in (near, north)
    }
    assert schedules[near]["stops"] == []
    assert [s["kind"] for s in schedules[north]["stops"]] == ["pickup", "dropoff"]
    gateway = await tenant(Role.GATEWAY, provider_id=manager.provider_id)
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
    assert (await client.get(path, headers=auth(manager))).json()["state"] == "picked_up"


async def test_a_pod_gone_to_charge_hands_its_waiting_requests_to_another(
    app: FastAPI, client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    manager, (near, north) = await pods(tenant, session, redis)
    assert manager.provider_id is not None
    booked = (await client.post("/v1/dispatch/requests", headers=auth(manager), json=ride())).json()
    assert booked["device_id"] == str(near)
    await place_pod(redis, manager, near, STATION, battery=10)
    reoptimiser: Reoptimiser = app.state.dispatch
    assert await reoptimiser.reoptimise(manager.provider_id, now=datetime.now(UTC)) is True
    read = (
        await client.get(f"/v1/dispatch/requests/{booked['request_id']}", headers=auth(manager))
    ).json()
    assert read["device_id"] == str(north)
    promise = read["promise"]
    assert at(promise["pickup_from"]) <= at(read["planned_pickup_at"]) <= at(promise["pickup_to"])
    charging = (
        await client.get(f"/v1/dispatch/pods/{near}/schedule", headers=auth(manager))
    ).json()
    assert charging["stops"] == []
    # And it takes no new booking while it charges.
    again = (await client.post("/v1/dispatch/requests", headers=auth(manager), json=ride())).json()
    assert again["device_id"] == str(north)
