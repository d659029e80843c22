"""Alerts from the hot path: stored, queryable per tenant, streamed to workers."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from redis.asyncio import Redis

from app.core.auth import Role
from telemetry.hotstate.keys import ALERT_STREAM
from tests.conftest import Tenant, TenantFactory, auth
from tests.payloads import event, now_ms, point, post, register
from tests.zones import CENTRE, disc, zone

INSIDE = {"lat": CENTRE[0], "lng": CENTRE[1]}
FAR = {"lat": 56.30, "lng": 12.90}


@pytest.fixture
async def city(client: AsyncClient, tenant: TenantFactory) -> dict[str, Tenant]:
    planner = await tenant(Role.CITY_PLANNER)
    for body in (
        zone(name="Centre", geometry=disc(300)),
        zone(name="Station", kind="no_parking", max_speed_kph=None, geometry=disc(100)),
        zone(name="City", kind="service_area", max_speed_kph=None, geometry=disc(5000)),
    ):
        created = await client.post("/v1/zones", headers=auth(planner), json=body)
        assert created.status_code == 201, created.text
    gateway = await tenant()
    return {
        "gateway": gateway,
        "manager": await tenant(Role.OPERATOR_MANAGER, provider_id=gateway.provider_id),
        "other": await tenant(Role.OPERATOR_MANAGER),
        "auditor": await tenant(Role.CITY_AUDITOR),
    }


async def test_violations_become_alerts_for_the_operator_and_the_stream(
    client: AsyncClient, city: dict[str, Tenant], redis: Redis
) -> None:
    gateway, manager = city["gateway"], city["manager"]
    [device] = await register(client, gateway)
    trip = [str(uuid.uuid4())]
    t = now_ms() + 2_000  # after the zones took effect
    await post(
        client,
        gateway,
        "telemetry",
        [point(gateway, device, timestamp=t, location={**INSIDE, "speed": 2.0})],
    )
    await post(
        client,
        gateway,
        "telemetry",
        [
            point(
                gateway,
                device,
                timestamp=t + 1000 * s,
                trip_ids=trip,
                location={**INSIDE, "speed": 6.0},
            )
            for s in range(1, 4)
        ],
    )
    await post(
        client,
        gateway,
        "events",
        [
            event(
                gateway,
                device,
                timestamp=t + 5000,
                vehicle_state="available",
                event_types=["trip_end"],
                trip_ids=trip,
                location=INSIDE,
            )
        ],
    )
    # Far outside the city: leaving the service area (deep, so at once).
    await post(
        client, gateway, "telemetry", [point(gateway, device, timestamp=t + 9000, location=FAR)]
    )
    response = await client.get("/v1/alerts", headers=auth(manager))
    assert response.status_code == 200, response.text
    kinds = sorted(a["kind"] for a in response.json())
    assert kinds == sorted(
        [
            "speeding",
            "parked_in_no_parking_zone",
            "zone_exit",
            "zone_exit",
            "zone_exit",
            "left_service_area",
        ]
    )
    speeding = next(a for a in response.json() if a["kind"] == "speeding")
    assert speeding["details"] == {"speed_kph": 21.6, "max_speed_kph": 10}
    assert speeding["device_id"] == device
    streamed: Any = await redis.xrange(ALERT_STREAM)
    assert sorted(fields[b"kind"].decode() for _, fields in streamed) == kinds


async def test_alerts_are_tenant_scoped_and_filterable(
    client: AsyncClient, city: dict[str, Tenant]
) -> None:
    gateway = city["gateway"]
    [device] = await register(client, gateway)
    t = now_ms() + 2_000
    await post(
        client,
        gateway,
        "telemetry",
        [point(gateway, device, timestamp=t, location={**INSIDE, "speed": 9.0})],
    )
    assert (await client.get("/v1/alerts", headers=auth(city["other"]))).json() == []
    asked = await client.get(
        f"/v1/alerts?provider_id={gateway.provider_id}", headers=auth(city["other"])
    )
    assert asked.json() == []
    seen = (
        await client.get(
            f"/v1/alerts?provider_id={gateway.provider_id}", headers=auth(city["auditor"])
        )
    ).json()
    assert [a["kind"] for a in seen] == ["speeding"]
    mine = auth(city["manager"])
    assert (await client.get("/v1/alerts?kind=zone_exit", headers=mine)).json() == []
    assert len((await client.get(f"/v1/alerts?device_id={device}", headers=mine)).json()) == 1
    assert (await client.get(f"/v1/alerts?device_id={uuid.uuid4()}", headers=mine)).json() == []
    tomorrow = {"since": (datetime.now(UTC) + timedelta(days=1)).isoformat()}
    assert (await client.get("/v1/alerts", params=tomorrow, headers=mine)).json() == []


@pytest.mark.parametrize(
    "query",
    ["kind=nonsense", "since=yesterday", "since=2026-11-26T10:00:00", "limit=0", "device_id=x"],
)
async def test_bad_alert_queries_are_422(
    client: AsyncClient, tenant: TenantFactory, query: str
) -> None:
    manager = await tenant(Role.OPERATOR_MANAGER)
    response = await client.get(f"/v1/alerts?{query}", headers=auth(manager))
    assert response.status_code == 422


async def test_sides_change_only_after_the_dwell_across_batches(
    client: AsyncClient, city: dict[str, Tenant]
) -> None:
    # Just outside the 100 m station zone: shallower than 10 m, so only dwelling counts.
    gateway, manager = city["gateway"], city["manager"]
    [device] = await register(client, gateway)
    edge = {"lat": CENTRE[0] + 104 / 111_320, "lng": CENTRE[1], "speed": 1.0}
    inside = {"lat": CENTRE[0] + 50 / 111_320, "lng": CENTRE[1], "speed": 1.0}
    t = now_ms() + 2_000
    plan = [(0, inside), (5, inside), (10, edge), (20, edge), (35, edge)]
    for seconds, location in plan:
        await post(
            client,
            gateway,
            "telemetry",
            [point(gateway, device, timestamp=t + seconds * 1000, location=location)],
        )
    exits = (await client.get("/v1/alerts?kind=zone_exit", headers=auth(manager))).json()
    assert [a["occurred_at"][:19] for a in exits] == [
        datetime.fromtimestamp((t + 35_000) / 1000, UTC).isoformat()[:19]
    ]


async def test_points_before_a_zone_took_effect_raise_nothing(
    client: AsyncClient, city: dict[str, Tenant]
) -> None:
    gateway, manager = city["gateway"], city["manager"]
    [device] = await register(client, gateway)
    before = now_ms() - 60_000  # the zones were published just now
    await post(
        client,
        gateway,
        "telemetry",
        [point(gateway, device, timestamp=before, location={**INSIDE, "speed": 9.0})],
    )
    await post(
        client,
        gateway,
        "telemetry",
        [point(gateway, device, timestamp=before + 1000, location={**INSIDE, "speed": 9.0})],
    )
    assert (await client.get("/v1/alerts", headers=auth(manager))).json() == []
