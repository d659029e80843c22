"""MDS Policy: publishing by planners, public reads, validation against the official model."""

import time
import uuid
from typing import Any

import pytest
from httpx import AsyncClient

from app.core.auth import Role
from tests.conftest import Tenant, TenantFactory, auth
from tests.mds_schemas import assert_valid, response_validator
from tests.policies import HOUR_MS, policy, publish
from tests.zones import disc, zone


@pytest.fixture
async def planner(tenant: TenantFactory) -> Tenant:
    return await tenant(Role.CITY_PLANNER)


@pytest.fixture
async def geography(client: AsyncClient, planner: Tenant) -> str:
    created = await client.post(
        "/v1/zones",
        headers=auth(planner),
        json=zone(name="Centre", kind="service_area", max_speed_kph=None, geometry=disc(800)),
    )
    assert created.status_code == 201, created.text
    zone_id: str = created.json()["zone_id"]
    return zone_id


async def test_published_policies_are_public_and_valid_mds(
    client: AsyncClient, planner: Tenant, geography: str
) -> None:
    published = await publish(client, planner, policy(geography))
    assert published["published_date"] <= int(time.time() * 1000)
    uuid.UUID(published["policy_id"])
    listing = await client.get("/mds/policies")
    assert listing.status_code == 200
    assert_valid(response_validator("policy", "/policies", "get", 200), listing.json())
    assert [p["policy_id"] for p in listing.json()["policies"]] == [published["policy_id"]]
    single = await client.get(f"/mds/policies/{published['policy_id']}")
    assert_valid(response_validator("policy", "/policies/{policy_id}", "get", 200), single.json())
    assert single.json()["policies"] == [published]
    assert (await client.get(f"/mds/policies/{uuid.uuid4()}")).status_code == 404


async def test_period_filters_and_active_only(
    client: AsyncClient, planner: Tenant, geography: str
) -> None:
    first = await publish(
        client, planner, policy(geography, end_date=int(time.time() * 1000) + 5 * HOUR_MS)
    )
    second = await publish(
        client,
        planner,
        policy(
            geography,
            prev_policies=[first["policy_id"]],
            start_date=int(time.time() * 1000) + 10 * HOUR_MS,
        ),
    )

    async def ids(query: str) -> list[str]:
        response = await client.get(f"/mds/policies{query}")
        assert response.status_code == 200, response.text
        return [p["policy_id"] for p in response.json()["policies"]]

    now = int(time.time() * 1000)
    assert await ids("") == [first["policy_id"], second["policy_id"]]
    assert await ids("?active_only=true") == [second["policy_id"]]
    assert await ids(f"?start_date={now + 6 * HOUR_MS}") == [second["policy_id"]]
    assert await ids(f"?start_date={now}&end_date={now + 2 * HOUR_MS}") == [first["policy_id"]]
    assert (await client.get("/mds/policies?start_date=abc")).status_code == 400
    assert (await client.get("/mds/policies?start_date=5")).status_code == 400


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"start_date": int(time.time() * 1000) + 60_000}, "start_date"),
        ({"rules": []}, "rules"),
        ({"name": 5}, "name"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_policies_are_422_naming_the_field(
    client: AsyncClient, planner: Tenant, geography: str, change: dict[str, Any], field: str
) -> None:
    response = await client.post(
        "/v1/policies", headers=auth(planner), json=policy(geography, **change)
    )
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"]
    assert (await client.get("/mds/policies")).json()["policies"] == []


async def test_rules_must_name_published_city_geographies(
    client: AsyncClient, planner: Tenant, tenant: TenantFactory
) -> None:
    response = await client.post(
        "/v1/policies", headers=auth(planner), json=policy(str(uuid.uuid4()))
    )
    assert response.status_code == 422
    assert "geographies" in response.json()["detail"]
    manager = await tenant(Role.OPERATOR_MANAGER)
    private = await client.post("/v1/zones", headers=auth(manager), json=zone())
    response = await client.post(
        "/v1/policies", headers=auth(planner), json=policy(private.json()["zone_id"])
    )
    assert response.status_code == 422


async def test_policies_are_immutable_and_for_planners(
    client: AsyncClient, planner: Tenant, geography: str, tenant: TenantFactory
) -> None:
    published = await publish(client, planner, policy(geography))
    again = await client.post(
        "/v1/policies",
        headers=auth(planner),
        json=policy(geography, policy_id=published["policy_id"]),
    )
    assert again.status_code == 409
    for role in (Role.OPERATOR_MANAGER, Role.CITY_AUDITOR, Role.GATEWAY):
        caller = await tenant(role)
        response = await client.post("/v1/policies", headers=auth(caller), json=policy(geography))
        assert response.status_code == 403
