"""GET /v1/compliance: the policy on the live fleet, checked against a brute-force count."""

import random
import uuid
from datetime import UTC, datetime
from typing import Any

import shapely
from httpx import AsyncClient

from app.core.auth import Role
from tests.conftest import TenantFactory, auth
from tests.payloads import event, now_ms, point, register
from tests.policies import policy, publish
from tests.zones import CENTRE, disc, zone


async def test_count_rule_matches_a_brute_force_evaluation(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    planner = await tenant(Role.CITY_PLANNER)
    area = disc(600)
    created = await client.post(
        "/v1/zones",
        headers=auth(planner),
        json=zone(name="Centre", kind="service_area", max_speed_kph=None, geometry=area),
    )
    geography = created.json()["zone_id"]
    document = policy(geography)
    document["rules"][0]["maximum"] = 3
    published = await publish(client, planner, document)
    gateway = await tenant()
    rng = random.Random(11)
    devices = await register(client, gateway, 14)
    truth: dict[str, tuple[float, float, str]] = {}
    t = now_ms() - 30_000
    points, events = [], []
    for device in devices:
        lat = CENTRE[0] + rng.uniform(-0.009, 0.009)
        lng = CENTRE[1] + rng.uniform(-0.015, 0.015)
        state = rng.choice(["available", "available", "non_operational"])
        truth[device] = (lat, lng, state)
        points.append(point(gateway, device, timestamp=t, location={"lat": lat, "lng": lng}))
        types = ["provider_drop_off"] if state == "available" else ["battery_low"]
        events.append(event(gateway, device, timestamp=t, vehicle_state=state, event_types=types))
    for path, batch in (("telemetry", points), ("events", events)):
        assert (
            await client.post(f"/mds/agency/{path}", headers=gateway.headers, json=batch)
        ).status_code == 201
    shape = shapely.geometry.shape(area)
    matched = {
        d
        for d, (lat, lng, state) in truth.items()
        if state == "available" and shapely.intersects_xy(shape, lng, lat)
    }
    assert len(matched) > 3, "the random fleet must exceed the cap"
    at = datetime.fromtimestamp((published["start_date"] + 60_000) / 1000, UTC).isoformat()
    manager = await tenant(Role.OPERATOR_MANAGER, provider_id=gateway.provider_id)
    response = await client.get(
        "/v1/compliance",
        headers=auth(manager),
        params={"policy_id": published["policy_id"], "at": at},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    [provider] = body["providers"]
    cap = next(r for r in provider["rules"] if r["name"] == "Cap")
    assert set(cap["matched_device_ids"]) == matched
    assert len(cap["violating_device_ids"]) == len(matched) - 3
    assert set(cap["violating_device_ids"]) <= matched
    assert cap["in_violation"] is True
    # Before the policy starts, nothing is in force.
    early = await client.get(
        "/v1/compliance", headers=auth(manager), params={"policy_id": published["policy_id"]}
    )
    assert early.json()["policy_active"] is False


async def test_compliance_is_tenant_scoped_and_validated(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    planner = await tenant(Role.CITY_PLANNER)
    created = await client.post(
        "/v1/zones",
        headers=auth(planner),
        json=zone(kind="service_area", max_speed_kph=None),
    )
    published = await publish(client, planner, policy(created.json()["zone_id"]))
    mine, theirs = await tenant(Role.OPERATOR_MANAGER), await tenant(Role.OPERATOR_MANAGER)
    response = await client.get(
        "/v1/compliance",
        headers=auth(mine),
        params={"policy_id": published["policy_id"], "provider_id": str(theirs.provider_id)},
    )
    assert response.status_code == 200
    assert response.json()["providers"] == []
    unknown = await client.get(
        "/v1/compliance", headers=auth(mine), params={"policy_id": str(uuid.uuid4())}
    )
    assert unknown.status_code == 404
    for params in (
        {},
        {"policy_id": "x"},
        {"policy_id": published["policy_id"], "at": "2026-11-26T12:00:00"},
    ):
        assert (
            await client.get("/v1/compliance", headers=auth(mine), params=params)
        ).status_code == 422
    gateway = await tenant()
    assert (
        await client.get(
            "/v1/compliance", headers=auth(gateway), params={"policy_id": published["policy_id"]}
        )
    ).status_code == 403
