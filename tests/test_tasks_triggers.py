"""Tasks the data opens and closes by itself: battery, bad parking, breakdowns; the stream."""

import uuid
from typing import Any

from httpx import AsyncClient
from redis.asyncio import Redis

from app.core.auth import Role
from telemetry.hotstate.keys import TASK_STREAM
from tests.conftest import Tenant, TenantFactory, auth
from tests.payloads import event, now_ms, point, post, register
from tests.tasks import act, crew
from tests.zones import CENTRE, disc, zone

INSIDE = {"lat": CENTRE[0], "lng": CENTRE[1]}
# Outside the 100 m no-parking disc, inside the city.
OUTSIDE = {"lat": CENTRE[0] + 0.004, "lng": CENTRE[1]}


async def tasks_of(client: AsyncClient, who: Tenant, **params: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/tasks", params=params, headers=auth(who))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


async def detail(client: AsyncClient, who: Tenant, task_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await client.get(f"/v1/tasks/{task_id}", headers=auth(who))).json()
    return found


async def test_a_low_battery_opens_one_swap_and_a_charged_one_closes_it(
    client: AsyncClient, tenant: TenantFactory, redis: Redis
) -> None:
    c = await crew(tenant)
    device, healthy = await register(client, c.gateway, 2)
    t = now_ms() - 60_000
    await post(
        client,
        c.gateway,
        "telemetry",
        [
            point(c.gateway, device, timestamp=t, battery_percent=12),
            point(c.gateway, healthy, timestamp=t, battery_percent=21),
        ],
    )
    await post(
        client,
        c.gateway,
        "telemetry",
        [point(c.gateway, device, timestamp=t + 1000, battery_percent=11)],
    )
    (task,) = await tasks_of(client, c.agent, kind="battery_swap")
    assert task["device_id"] == device
    assert task["state"] == "open"
    assert task["created_by"] == "system"
    assert (task["lat"], task["lng"]) == CENTRE
    await act(client, c.agent, task["task_id"], "claim")
    await post(
        client,
        c.gateway,
        "telemetry",
        [point(c.gateway, device, timestamp=t + 2000, battery_percent=95)],
    )
    closed = await detail(client, c.agent, task["task_id"])
    assert closed["state"] == "done"
    assert closed["closed_by"] == "system"
    assert closed["closed_reason"] == "battery 95 % at or above 20 %"
    assert [(h["action"], h["actor"], h["from_state"]) for h in closed["history"]] == [
        ("open", "system", None),
        ("claim", c.agent.key_id, "open"),
        ("resolve", "system", "assigned"),
    ]
    assert closed["history"][0]["details"] == {"reason": "battery 12 % below 20 %"}
    streamed: Any = await redis.xrange(TASK_STREAM)
    assert [(f[b"task_id"].decode(), f[b"action"].decode()) for _, f in streamed] == [
        (task["task_id"], "open"),
        (task["task_id"], "claim"),
        (task["task_id"], "resolve"),
    ]


async def test_battery_thresholds_follow_the_providers_rules_per_vehicle_type(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    c = await crew(tenant)
    rules = {"battery_below_percent": 10, "battery_below_by_vehicle_type": {"bicycle": 50}}
    put = await client.put("/v1/task-rules", headers=auth(c.manager), json=rules)
    assert put.status_code == 200
    (scooter,) = await register(client, c.gateway)
    (bike,) = await register(client, c.gateway, vehicle_type="bicycle")
    await post(
        client,
        c.gateway,
        "telemetry",
        [
            point(c.gateway, scooter, battery_percent=15),
            point(c.gateway, bike, battery_percent=40),
        ],
    )
    assert [t["device_id"] for t in await tasks_of(client, c.agent)] == [bike]


async def test_non_operational_opens_a_collection_and_available_closes_it(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    c = await crew(tenant)
    (device,) = await register(client, c.gateway)
    t = now_ms() - 120_000
    broken = event(
        c.gateway,
        device,
        timestamp=t,
        vehicle_state="non_operational",
        event_types=["maintenance"],
        location=OUTSIDE,
    )
    await post(client, c.gateway, "events", [broken])
    await post(
        client, c.gateway, "events", [{**broken, "event_id": str(uuid.uuid4()), "timestamp": t + 1}]
    )
    (task,) = await tasks_of(client, c.agent, kind="collect_for_repair")
    assert task["priority"] == 3
    assert (task["lat"], task["lng"]) == (OUTSIDE["lat"], OUTSIDE["lng"])
    repaired = event(
        c.gateway,
        device,
        timestamp=t + 60_000,
        vehicle_state="available",
        event_types=["maintenance"],
    )
    await post(client, c.gateway, "events", [repaired])
    closed = await detail(client, c.agent, task["task_id"])
    assert closed["state"] == "done"
    assert closed["closed_reason"] == "the vehicle is available again"


async def test_parking_in_a_no_parking_zone_opens_a_relocation_closed_by_a_valid_park(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    planner = await tenant(Role.CITY_PLANNER)
    station = zone(name="Station", kind="no_parking", max_speed_kph=None, geometry=disc(100))
    assert (await client.post("/v1/zones", headers=auth(planner), json=station)).status_code == 201
    c = await crew(tenant)
    (device,) = await register(client, c.gateway)
    t = now_ms() + 2_000  # after the zone took effect

    def trip_end(at: int, where: dict[str, float]) -> dict[str, Any]:
        return event(
            c.gateway,
            device,
            timestamp=at,
            vehicle_state="available",
            event_types=["trip_end"],
            trip_ids=[str(uuid.uuid4())],
            location=where,
        )

    await post(client, c.gateway, "events", [trip_end(t, INSIDE)])
    await post(client, c.gateway, "events", [trip_end(t + 1000, INSIDE)])
    (task,) = await tasks_of(client, c.agent, kind="relocate")
    assert task["state"] == "open"
    assert task["priority"] == 2
    history = (await detail(client, c.agent, task["task_id"]))["history"]
    assert history[0]["details"] == {"reason": "parked_in_no_parking_zone"}
    await post(client, c.gateway, "events", [trip_end(t + 2000, OUTSIDE)])
    closed = await detail(client, c.agent, task["task_id"])
    assert closed["state"] == "done"
    assert closed["closed_reason"] == "parked in a valid place"


async def test_a_rejected_batch_opens_nothing(client: AsyncClient, tenant: TenantFactory) -> None:
    c = await crew(tenant)
    (device,) = await register(client, c.gateway)
    bad = [point(c.gateway, device, battery_percent=5), point(c.gateway, str(uuid.uuid4()))]
    response = await client.post("/mds/agency/telemetry", headers=c.gateway.headers, json=bad)
    assert response.status_code == 404
    assert await tasks_of(client, c.agent) == []
