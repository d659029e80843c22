"""Shared arrangements of the task tests: a provider's gateway, manager and agents."""

from dataclasses import dataclass
from typing import Any

from httpx import AsyncClient

from app.core.auth import Role
from tests.conftest import Tenant, TenantFactory, auth
from tests.zones import CENTRE

HERE = {"lat": CENTRE[0], "lng": CENTRE[1]}


@dataclass(frozen=True)
class Crew:
    """One provider's keys: its gateway, a manager and two field agents."""

    gateway: Tenant
    manager: Tenant
    agent: Tenant
    other_agent: Tenant


async def crew(tenant: TenantFactory) -> Crew:
    """A provider with a gateway, a manager and two agents."""
    gateway = await tenant()
    same = {"provider_id": gateway.provider_id}
    return Crew(
        gateway,
        await tenant(Role.OPERATOR_MANAGER, **same),
        await tenant(Role.FIELD_AGENT, **same),
        await tenant(Role.FIELD_AGENT, **same),
    )


async def open_task(
    client: AsyncClient, manager: Tenant, device_id: str, **fields: Any
) -> dict[str, Any]:
    """A task opened by hand (kind inspect unless given); returns its JSON."""
    body = {"kind": "inspect", "device_id": device_id, "place": HERE, **fields}
    response = await client.post("/v1/tasks", headers=auth(manager), json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def act(client: AsyncClient, who: Tenant, task_id: str, action: str, body: Any = None) -> Any:
    """POST /v1/tasks/{id}/{action}; returns the response."""
    return await client.post(f"/v1/tasks/{task_id}/{action}", headers=auth(who), json=body)
