"""Gateways take commands over the HTTP long poll and ack them: at once when due, woken
by a new command while waiting, handed out again after the redelivery time or a
reconnect, every ack transition, expiry, and isolation between providers."""

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from fleet.commands.models import Command
from telemetry.hotstate.keys import COMMAND_STREAM
from tests.conftest import Tenant, TenantFactory, auth
from tests.rows import add_vehicle


class Fleet:
    """A provider's manager, gateway and one vehicle."""

    def __init__(self, manager: Tenant, gateway: Tenant, device: uuid.UUID) -> None:
        self.manager = manager
        self.gateway = gateway
        self.device = device


async def fleet(tenant: TenantFactory, session: AsyncSession) -> Fleet:
    manager = await tenant(Role.OPERATOR_MANAGER)
    gateway = await tenant(Role.GATEWAY, provider_id=manager.provider_id)
    return Fleet(manager, gateway, await add_vehicle(session, manager.provider_id))


async def send(client: AsyncClient, f: Fleet, kind: str = "lock", **body: Any) -> str:
    response = await client.post(
        f"/v1/vehicles/{f.device}/commands", headers=auth(f.manager), json={"kind": kind, **body}
    )
    assert response.status_code == 201, response.text
    command_id: str = response.json()["command_id"]
    return command_id


async def poll(client: AsyncClient, who: Tenant, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/gateway/commands", params=params, headers=auth(who))
    assert response.status_code == 200, response.text
    commands: list[dict[str, Any]] = response.json()["commands"]
    return commands


async def ack(client: AsyncClient, who: Tenant, command_id: str, status: str, **body: Any) -> Any:
    return await client.post(
        f"/v1/gateway/commands/{command_id}/ack",
        headers=auth(who),
        json={"status": status, **body},
    )


async def state(client: AsyncClient, f: Fleet, command_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/commands/{command_id}", headers=auth(f.manager))
    assert response.status_code == 200, response.text
    read: dict[str, Any] = response.json()
    return read


async def test_a_pending_command_is_handed_out_at_once_and_marked_delivered(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    f = await fleet(tenant, session)
    command_id = await send(client, f, "set_max_speed", params={"max_speed_kph": 12})
    handed = await poll(client, f.gateway, wait=20)
    assert [(c["command_id"], c["kind"], c["params"], c["attempt"]) for c in handed] == [
        (command_id, "set_max_speed", {"max_speed_kph": 12}, 1)
    ]
    assert handed[0]["device_id"] == str(f.device)
    read = await state(client, f, command_id)
    assert read["state"] == "delivered"
    assert read["delivered_at"] is not None
    assert read["history"][-1]["actor"] == f.gateway.key_id
    # Delivered and not yet due again: the next poll does not repeat it.
    assert await poll(client, f.gateway) == []


async def test_an_empty_poll_waits_and_returns_nothing(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    f = await fleet(tenant, session)
    assert await poll(client, f.gateway, wait=1) == []


async def blocked_readers(redis: Redis) -> int:
    """Redis clients blocked in XREAD (a waiting long poll)."""
    clients: Any = await redis.client_list()
    return sum(1 for c in clients if c.get("cmd") == "xread" and "b" in c.get("flags", ""))


async def waiting_poll(
    client: AsyncClient, redis: Redis, who: Tenant, wait: int
) -> asyncio.Task[list[dict[str, Any]]]:
    """A long poll that has found nothing and waits. (Tests must not send while it looks:
    the app's sessions share the test's one connection.)"""
    waiting = asyncio.create_task(poll(client, who, wait=wait))
    for _ in range(500):
        if await blocked_readers(redis):
            break
        await asyncio.sleep(0.01)
    assert await blocked_readers(redis) == 1, "the poll never started waiting"
    assert not waiting.done()
    return waiting


async def test_a_waiting_poll_wakes_on_a_new_command(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    f = await fleet(tenant, session)
    waiting = await waiting_poll(client, redis, f.gateway, 30)
    command_id = await send(client, f, "ring")
    handed = await asyncio.wait_for(waiting, 10)
    assert [c["command_id"] for c in handed] == [command_id]


async def test_a_waiting_poll_is_not_woken_by_another_providers_command(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    a = await fleet(tenant, session)
    b = await fleet(tenant, session)
    waiting = await waiting_poll(client, redis, b.gateway, 2)
    await send(client, a, "ring")
    assert await waiting == []
    assert len(await poll(client, a.gateway)) == 1


async def test_an_unanswered_command_comes_again_after_a_reconnect(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    f = await fleet(tenant, session)
    command_id = await send(client, f)
    assert [c["attempt"] for c in await poll(client, f.gateway)] == [1]
    assert await poll(client, f.gateway) == []
    again = await poll(client, f.gateway, reconnect="true")
    assert [(c["command_id"], c["attempt"]) for c in again] == [(command_id, 2)]
    # An answered command is not handed out again, even after a reconnect.
    assert (await ack(client, f.gateway, command_id, "accepted")).status_code == 200
    assert await poll(client, f.gateway, reconnect="true") == []


async def test_an_unanswered_command_comes_again_after_the_redelivery_time(
    app: FastAPI, client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    f = await fleet(tenant, session)
    command_id = await send(client, f)
    await poll(client, f.gateway)
    redeliver: timedelta = app.state.command_delivery.redeliver_after
    await session.execute(
        update(Command)
        .where(Command.command_id == uuid.UUID(command_id))
        .values(delivered_at=Command.delivered_at - redeliver)
    )
    again = await poll(client, f.gateway)
    assert [(c["command_id"], c["attempt"]) for c in again] == [(command_id, 2)]
    read = await state(client, f, command_id)
    assert [h["to_state"] for h in read["history"]] == ["pending", "delivered", "delivered"]


async def test_accepted_then_done_with_history_and_stream(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    f = await fleet(tenant, session)
    command_id = await send(client, f)
    await poll(client, f.gateway)
    accepted = await ack(client, f.gateway, command_id, "accepted", message="locking")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["state"] == "accepted"
    done = await ack(client, f.gateway, command_id, "done", message="locked")
    assert done.json()["state"] == "done"
    assert done.json()["message"] == "locked"
    history = [
        (h["from_state"], h["to_state"], h["actor"], h["message"]) for h in done.json()["history"]
    ]
    assert history == [
        (None, "pending", f.manager.key_id, None),
        ("pending", "delivered", f.gateway.key_id, "attempt 1"),
        ("delivered", "accepted", f.gateway.key_id, "locking"),
        ("accepted", "done", f.gateway.key_id, "locked"),
    ]
    streamed: Any = await redis.xrange(COMMAND_STREAM)
    assert [e[b"to"].decode() for _, e in streamed] == ["pending", "delivered", "accepted", "done"]


@pytest.mark.parametrize("result", ["done", "failed", "rejected"])
async def test_a_result_may_come_without_accepted(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, result: str
) -> None:
    f = await fleet(tenant, session)
    command_id = await send(client, f)
    await poll(client, f.gateway)
    assert (await ack(client, f.gateway, command_id, result)).json()["state"] == result


async def test_repeated_and_late_acks_change_nothing(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    f = await fleet(tenant, session)
    command_id = await send(client, f)
    await poll(client, f.gateway)
    await ack(client, f.gateway, command_id, "accepted")
    first = await ack(client, f.gateway, command_id, "done")
    for repeated in ("done", "accepted"):
        response = await ack(client, f.gateway, command_id, repeated)
        assert response.status_code == 200
        assert response.json() == first.json()


@pytest.mark.parametrize(
    ("before", "illegal"),
    [
        (["accepted"], "rejected"),
        (["done"], "failed"),
        (["rejected"], "done"),
        (["failed"], "done"),
    ],
)
async def test_an_ack_that_contradicts_the_state_is_a_409_and_changes_nothing(
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    before: list[str],
    illegal: str,
) -> None:
    f = await fleet(tenant, session)
    command_id = await send(client, f)
    await poll(client, f.gateway)
    for status in before:
        await ack(client, f.gateway, command_id, status)
    kept = await state(client, f, command_id)
    response = await ack(client, f.gateway, command_id, illegal)
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "allowed" in response.json()["detail"]
    assert await state(client, f, command_id) == kept


@pytest.mark.parametrize(
    "body", [{"status": "delivered"}, {"status": "pending"}, {}, {"status": "done", "x": 1}]
)
async def test_a_bad_ack_is_a_422_and_changes_nothing(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, body: dict[str, Any]
) -> None:
    f = await fleet(tenant, session)
    command_id = await send(client, f)
    await poll(client, f.gateway)
    kept = await state(client, f, command_id)
    response = await client.post(
        f"/v1/gateway/commands/{command_id}/ack", headers=auth(f.gateway), json=body
    )
    assert response.status_code == 422
    assert await state(client, f, command_id) == kept


async def test_another_providers_gateway_neither_gets_nor_acks_a_command(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    a = await fleet(tenant, session)
    b = await fleet(tenant, session)
    command_id = await send(client, a)
    assert await poll(client, b.gateway, reconnect="true") == []
    assert (await ack(client, b.gateway, command_id, "done")).status_code == 404
    assert (await ack(client, a.gateway, str(uuid.uuid4()), "done")).status_code == 404
    assert (await state(client, a, command_id))["state"] == "pending"


@pytest.mark.parametrize("role", [Role.OPERATOR_MANAGER, Role.FIELD_AGENT])
async def test_only_gateways_poll_and_ack(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, role: Role
) -> None:
    f = await fleet(tenant, session)
    command_id = await send(client, f)
    other = await tenant(role, provider_id=f.manager.provider_id)
    listed = await client.get("/v1/gateway/commands", headers=auth(other))
    assert listed.status_code == 403
    assert (await ack(client, other, command_id, "done")).status_code == 403
    assert (await state(client, f, command_id))["state"] == "pending"


@pytest.mark.parametrize("wait", [-1, 56, "soon"])
async def test_a_wait_out_of_bounds_is_a_422(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, wait: Any
) -> None:
    f = await fleet(tenant, session)
    command_id = await send(client, f)
    response = await client.get(
        "/v1/gateway/commands", params={"wait": wait}, headers=auth(f.gateway)
    )
    assert response.status_code == 422
    assert (await state(client, f, command_id))["state"] == "pending"


async def past_expiry(session: AsyncSession, command_id: str) -> None:
    await session.execute(
        update(Command)
        .where(Command.command_id == uuid.UUID(command_id))
        .values(expires_at=Command.created_at - timedelta(seconds=1))
    )


async def test_the_expiry_job_expires_unfinished_commands_only(
    app: FastAPI, client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    f = await fleet(tenant, session)
    pending, delivered, accepted, done, later = [await send(client, f) for _ in range(5)]
    await poll(client, f.gateway)
    await ack(client, f.gateway, accepted, "accepted")
    await ack(client, f.gateway, done, "done")
    for command_id in (pending, delivered, accepted, done):
        await past_expiry(session, command_id)
    await app.state.command_delivery.expire()
    states = {
        c: (await state(client, f, c))["state"] for c in (pending, delivered, accepted, done, later)
    }
    assert states == {
        pending: "expired",
        delivered: "expired",
        accepted: "expired",
        done: "done",
        later: "delivered",
    }
    history = (await state(client, f, pending))["history"]
    assert history[-1]["actor"] == "system"


async def test_a_command_past_its_expiry_reads_expired_and_is_not_handed_out(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    f = await fleet(tenant, session)
    command_id = await send(client, f)
    await past_expiry(session, command_id)
    assert await poll(client, f.gateway) == []
    listed = await client.get(f"/v1/vehicles/{f.device}/commands", headers=auth(f.manager))
    assert [c["state"] for c in listed.json()["commands"]] == ["expired"]
    response = await ack(client, f.gateway, command_id, "done")
    assert response.status_code == 409
