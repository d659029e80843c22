"""Sending commands and reading them back: each kind, bad input, idempotency by the
caller's command_id, who may send, and isolation between providers."""

import uuid
from typing import Any

import pytest
from httpx import AsyncClient
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import CITYWIDE_ROLES, Role
from fleet.commands.models import Command, CommandChange
from telemetry.hotstate.keys import COMMAND_STREAM
from tests.conftest import Tenant, TenantFactory, auth
from tests.payloads import register
from tests.rows import add_vehicle
from tests.tasks import act, crew, open_task


async def fleet(tenant: TenantFactory, session: AsyncSession) -> tuple[Tenant, uuid.UUID]:
    """A manager and one vehicle of its provider."""
    manager = await tenant(Role.OPERATOR_MANAGER)
    return manager, await add_vehicle(session, manager.provider_id)


async def stored(session: AsyncSession) -> tuple[int, int]:
    """Commands and history rows in the database."""
    commands = await session.scalar(select(func.count()).select_from(Command))
    changes = await session.scalar(select(func.count()).select_from(CommandChange))
    return int(commands or 0), int(changes or 0)


def send(client: AsyncClient, who: Tenant, device: uuid.UUID | str, body: Any) -> Any:
    return client.post(f"/v1/vehicles/{device}/commands", headers=auth(who), json=body)


KINDS = [
    ({"kind": "lock"}, {}),
    ({"kind": "unlock"}, {}),
    ({"kind": "ring"}, {}),
    ({"kind": "set_max_speed", "params": {"max_speed_kph": 15}}, {"max_speed_kph": 15}),
    ({"kind": "open_battery"}, {}),
    ({"kind": "reboot"}, {}),
]


@pytest.mark.parametrize(("body", "params"), KINDS)
async def test_each_kind_is_stored_pending_with_its_sender_and_history(
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    redis: Redis,
    body: dict[str, Any],
    params: dict[str, Any],
) -> None:
    manager, device = await fleet(tenant, session)
    response = await send(client, manager, device, body)
    assert response.status_code == 201, response.text
    sent = response.json()
    assert sent["kind"] == body["kind"]
    assert sent["params"] == params
    assert sent["state"] == "pending"
    assert sent["device_id"] == str(device)
    assert sent["issued_by"] == manager.key_id
    assert sent["attempts"] == 0
    assert [(h["from_state"], h["to_state"], h["actor"]) for h in sent["history"]] == [
        (None, "pending", manager.key_id)
    ]
    read = await client.get(f"/v1/commands/{sent['command_id']}", headers=auth(manager))
    assert read.status_code == 200
    assert read.json() == sent
    streamed: Any = await redis.xrange(COMMAND_STREAM)
    assert [(e[b"command_id"].decode(), e[b"to"]) for _, e in streamed] == [
        (sent["command_id"], b"pending")
    ]


async def test_expiry_defaults_to_five_minutes_and_may_be_set(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    manager, device = await fleet(tenant, session)
    default = (await send(client, manager, device, {"kind": "ring"})).json()
    chosen = (await send(client, manager, device, {"kind": "ring", "expires_in_s": 60})).json()
    for sent, seconds in ((default, 300), (chosen, 60)):
        row = await session.get_one(Command, uuid.UUID(sent["command_id"]))
        assert (row.expires_at - row.created_at).total_seconds() == seconds


BAD = [
    ({"kind": "explode"}, "kind"),
    ({}, "kind"),
    ({"kind": "set_max_speed"}, "body"),
    ({"kind": "set_max_speed", "params": {}}, "params.max_speed_kph"),
    ({"kind": "set_max_speed", "params": {"max_speed_kph": 0}}, "params.max_speed_kph"),
    ({"kind": "set_max_speed", "params": {"max_speed_kph": 101}}, "params.max_speed_kph"),
    ({"kind": "set_max_speed", "params": {"max_speed_kph": "fast"}}, "params.max_speed_kph"),
    ({"kind": "set_max_speed", "params": {"max_speed_kph": 20, "x": 1}}, "params.x"),
    ({"kind": "lock", "params": {"max_speed_kph": 20}}, "body"),
    ({"kind": "lock", "expires_in_s": 5}, "expires_in_s"),
    ({"kind": "lock", "expires_in_s": 86_401}, "expires_in_s"),
    ({"kind": "lock", "command_id": ""}, "command_id"),
    ({"kind": "lock", "command_id": "x" * 65}, "command_id"),
    ({"kind": "lock", "command_id": "a b"}, "command_id"),
    ({"kind": "lock", "colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("body", "field"), BAD)
async def test_bad_input_is_a_422_problem_and_stores_nothing(
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    body: dict[str, Any],
    field: str,
) -> None:
    manager, device = await fleet(tenant, session)
    response = await send(client, manager, device, body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]
    assert await stored(session) == (0, 0)


async def test_a_device_id_that_is_not_a_lowercase_uuid_is_a_422(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    manager, device = await fleet(tenant, session)
    response = await send(client, manager, str(device).upper(), {"kind": "lock"})
    assert response.status_code == 422
    assert await stored(session) == (0, 0)


async def test_the_same_command_id_and_body_is_the_same_command(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    manager, device = await fleet(tenant, session)
    body = {"kind": "set_max_speed", "params": {"max_speed_kph": 20}, "command_id": "app-1"}
    first = await send(client, manager, device, body)
    again = await send(client, manager, device, body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert first.json()["client_command_id"] == "app-1"
    assert await stored(session) == (1, 1)


@pytest.mark.parametrize(
    "changed",
    [
        {"params": {"max_speed_kph": 25}},
        {"kind": "lock", "params": None},
        {"expires_in_s": 60},
        "another vehicle",
    ],
)
async def test_the_same_command_id_with_another_body_is_a_409(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, changed: Any
) -> None:
    manager, device = await fleet(tenant, session)
    body = {"kind": "set_max_speed", "params": {"max_speed_kph": 20}, "command_id": "app-1"}
    assert (await send(client, manager, device, body)).status_code == 201
    target = device
    if changed == "another vehicle":
        target = await add_vehicle(session, manager.provider_id)
    else:
        body = {k: v for k, v in {**body, **changed}.items() if v is not None}
    response = await send(client, manager, target, body)
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await stored(session) == (1, 1)


async def test_command_ids_are_per_provider(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    a, a_device = await fleet(tenant, session)
    b, b_device = await fleet(tenant, session)
    body = {"kind": "lock", "command_id": "shared-name"}
    first = await send(client, a, a_device, body)
    second = await send(client, b, b_device, body)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["command_id"] != second.json()["command_id"]


@pytest.mark.parametrize(
    "role", [Role.FIELD_AGENT, Role.GATEWAY, Role.CITY_AUDITOR, Role.CITY_PLANNER, Role.ADMIN]
)
async def test_only_managers_send_commands(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, role: Role
) -> None:
    manager, device = await fleet(tenant, session)
    citywide = role in CITYWIDE_ROLES
    other = await tenant(role, provider_id=None if citywide else manager.provider_id)
    response = await send(client, other, device, {"kind": "lock"})
    assert response.status_code == 403, response.text
    assert await stored(session) == (0, 0)


async def test_without_credentials_nothing_is_sent(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    _, device = await fleet(tenant, session)
    response = await client.post(f"/v1/vehicles/{device}/commands", json={"kind": "lock"})
    assert response.status_code == 401
    assert await stored(session) == (0, 0)


async def test_another_providers_vehicle_and_commands_are_not_found(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    a, a_device = await fleet(tenant, session)
    b, _ = await fleet(tenant, session)
    sent = (await send(client, a, a_device, {"kind": "lock"})).json()
    assert (await send(client, b, a_device, {"kind": "unlock"})).status_code == 404
    assert (await send(client, a, uuid.uuid4(), {"kind": "unlock"})).status_code == 404
    read = await client.get(f"/v1/commands/{sent['command_id']}", headers=auth(b))
    assert read.status_code == 404
    listed = await client.get(f"/v1/vehicles/{a_device}/commands", headers=auth(b))
    assert listed.status_code == 404
    assert "pending" not in read.text + listed.text
    assert await stored(session) == (1, 1)


async def test_a_vehicles_commands_are_listed_newest_first_in_pages(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    manager, device = await fleet(tenant, session)
    other_device = await add_vehicle(session, manager.provider_id)
    ids = [
        (await send(client, manager, device, {"kind": k})).json()["command_id"]
        for k in ("lock", "ring", "unlock")
    ]
    await send(client, manager, other_device, {"kind": "reboot"})
    path = f"/v1/vehicles/{device}/commands"
    first = (await client.get(path, params={"limit": 2}, headers=auth(manager))).json()
    assert [c["command_id"] for c in first["commands"]] == ids[::-1][:2]
    assert all(c["history"] for c in first["commands"])
    rest = (await client.get(first["links"]["next"], headers=auth(manager))).json()
    assert [c["command_id"] for c in rest["commands"]] == ids[:1]
    assert rest["links"]["next"] is None
    stranger = await client.get(path, params={"after": str(uuid.uuid4())}, headers=auth(manager))
    assert stranger.status_code == 404


async def test_a_field_agent_commands_only_the_vehicles_of_the_tasks_it_holds(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    c = await crew(tenant)
    device, elsewhere = await register(client, c.gateway, count=2)
    task = await open_task(client, c.manager, device, kind="battery_swap")
    # An open task is nobody's yet.
    assert (await send(client, c.agent, device, {"kind": "unlock"})).status_code == 403
    assert (await act(client, c.agent, task["task_id"], "claim")).status_code == 200
    for held in ("assigned", "in_progress"):
        sent = await send(client, c.agent, device, {"kind": "unlock", "command_id": held})
        assert sent.status_code == 201, (held, sent.text)
        assert sent.json()["issued_by"] == c.agent.key_id
        if held == "assigned":
            assert (await act(client, c.agent, task["task_id"], "start")).status_code == 200
    # Not another vehicle, not for another agent, not once the task is done.
    assert (await send(client, c.agent, elsewhere, {"kind": "ring"})).status_code == 403
    assert (await send(client, c.other_agent, device, {"kind": "ring"})).status_code == 403
    assert (await act(client, c.agent, task["task_id"], "complete")).status_code == 200
    assert (await send(client, c.agent, device, {"kind": "lock"})).status_code == 403
    assert await stored(session) == (2, 2)
