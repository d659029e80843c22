"""Commands over the real Mosquitto broker: published to the vehicle's topic, acked on the
acks topic, delivered again after fleetbed reconnects; acks from another provider's topic
ignored and counted at `/metrics`. Skipped when no broker listens on 127.0.0.1:1883."""

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt
import orjson
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from fleet.commands.mqtt import MqttCommands, ack_topic, command_topic
from tests.conftest import Tenant, TenantFactory, auth
from tests.prometheus import sample
from tests.rows import add_vehicle

BROKER = ("127.0.0.1", 1883)


def _broker_up() -> bool:
    try:
        with socket.create_connection(BROKER, timeout=1):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not _broker_up(), reason="no MQTT broker on 127.0.0.1:1883 (run `fleetbed bootstrap`)"
)


@pytest.fixture
async def bridge(app: FastAPI) -> AsyncIterator[MqttCommands]:
    """fleetbed's MQTT transport, stepped by the test."""
    mqtt = MqttCommands(
        f"mqtt://{BROKER[0]}:{BROKER[1]}",
        app.state.command_delivery,
        lambda: app.state.resources.sessionmaker,
        app.state.command_metrics.count_ack,
        serve_s=1.5,
    )
    yield mqtt
    await mqtt.close()


@pytest.fixture
async def device() -> AsyncIterator[aiomqtt.Client]:
    """A vehicle's gateway on the broker."""
    async with aiomqtt.Client(*BROKER, identifier=f"test-{uuid.uuid4().hex[:8]}") as client:
        yield client


async def received(client: aiomqtt.Client) -> dict[str, Any]:
    """The next message the gateway gets, as JSON."""
    message = await asyncio.wait_for(anext(aiter(client.messages)), 10)
    assert isinstance(message.payload, bytes)
    decoded: dict[str, Any] = orjson.loads(message.payload)
    return decoded


async def ack_counts(client: AsyncClient) -> tuple[float, float, float]:
    """Acks applied, ignored and refused so far, as `/metrics` tells them."""
    counts = [
        await sample(client, "fleetbed_mqtt_acks_total", outcome=outcome)
        for outcome in ("applied", "ignored", "refused")
    ]
    return counts[0], counts[1], counts[2]


async def send(client: AsyncClient, manager: Tenant, device_id: uuid.UUID) -> str:
    response = await client.post(
        f"/v1/vehicles/{device_id}/commands", headers=auth(manager), json={"kind": "lock"}
    )
    assert response.status_code == 201, response.text
    command_id: str = response.json()["command_id"]
    return command_id


async def read(client: AsyncClient, manager: Tenant, command_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/commands/{command_id}", headers=auth(manager))
    body: dict[str, Any] = response.json()
    return body


async def test_send_deliver_ack_over_the_broker_and_refuse_a_contradicting_ack(
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    bridge: MqttCommands,
    device: aiomqtt.Client,
) -> None:
    manager = await tenant(Role.OPERATOR_MANAGER)
    assert manager.provider_id is not None
    vehicle = await add_vehicle(session, manager.provider_id)
    await device.subscribe(command_topic(manager.provider_id, vehicle), qos=1)
    command_id = await send(client, manager, vehicle)
    await bridge.step()
    got = await received(device)
    assert (got["command_id"], got["kind"], got["device_id"]) == (command_id, "lock", str(vehicle))
    assert (await read(client, manager, command_id))["state"] == "delivered"
    applied, ignored, refused = await ack_counts(client)
    for status in ("accepted", "done"):
        payload = orjson.dumps({"command_id": command_id, "status": status, "message": status})
        await device.publish(ack_topic(manager.provider_id, vehicle), payload, qos=1)
    await bridge.step()
    assert await ack_counts(client) == (applied + 2, ignored, refused)
    contradicting = orjson.dumps({"command_id": command_id, "status": "failed"})
    await device.publish(ack_topic(manager.provider_id, vehicle), contradicting, qos=1)
    await bridge.step()
    assert await ack_counts(client) == (applied + 2, ignored, refused + 1)
    final = await read(client, manager, command_id)
    assert final["state"] == "done"
    assert [(h["to_state"], h["actor"]) for h in final["history"]][1:] == [
        ("delivered", "mqtt"),
        ("accepted", f"mqtt:{vehicle}"),
        ("done", f"mqtt:{vehicle}"),
    ]


async def test_an_unanswered_command_is_published_again_after_reconnecting(
    app: FastAPI,
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    bridge: MqttCommands,
    device: aiomqtt.Client,
) -> None:
    manager = await tenant(Role.OPERATOR_MANAGER)
    assert manager.provider_id is not None
    vehicle = await add_vehicle(session, manager.provider_id)
    await device.subscribe(command_topic(manager.provider_id, vehicle), qos=1)
    command_id = await send(client, manager, vehicle)
    await bridge.step()
    assert (await received(device))["attempt"] == 1
    await bridge.close()
    await bridge.step()
    again = await received(device)
    assert (again["command_id"], again["attempt"]) == (command_id, 2)


async def test_an_ack_from_another_providers_topic_is_ignored_and_counted(
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    bridge: MqttCommands,
    device: aiomqtt.Client,
) -> None:
    a = await tenant(Role.OPERATOR_MANAGER)
    b = await tenant(Role.OPERATOR_MANAGER)
    assert a.provider_id is not None
    assert b.provider_id is not None
    vehicle = await add_vehicle(session, a.provider_id)
    b_vehicle = await add_vehicle(session, b.provider_id)
    command_id = await send(client, a, vehicle)
    await bridge.step()
    applied, ignored, refused = await ack_counts(client)
    payload = orjson.dumps({"command_id": command_id, "status": "done"})
    await device.publish(ack_topic(b.provider_id, vehicle), payload, qos=1)
    await device.publish(ack_topic(b.provider_id, b_vehicle), payload, qos=1)
    await device.publish(ack_topic(a.provider_id, b_vehicle), payload, qos=1)
    await device.publish(ack_topic(a.provider_id, vehicle), b"not json", qos=1)
    await bridge.step()
    assert await ack_counts(client) == (applied, ignored + 3, refused + 1)
    assert (await read(client, a, command_id))["state"] == "delivered"
