"""The simulator's gateways take commands from a real `fleetbed serve`, over the HTTP long
poll and over the real MQTT broker, carry them out on their vehicles and ack them."""

import asyncio
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from demo.simulator.command_link import Executor, mqtt_commands, poll_commands
from demo.simulator.controls import Controls
from demo.simulator.gateway import Credentials
from tests.config import MDS_ACCEPT
from tests.processes import ENV, create_key, fleetbed, serving
from tests.sql import drop_provider

BROKER = "mqtt://127.0.0.1:1883"


def _broker_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def provider() -> Iterator[str]:
    """A provider made with the CLI, deleted with its keys, vehicles and commands after."""
    result = fleetbed("admin", "create-provider", "--name", f"cmd-{uuid.uuid4().hex[:8]}")
    assert result.returncode == 0, result.stderr
    provider_id = result.stdout.strip()
    yield provider_id
    drop_provider(uuid.UUID(provider_id))


async def drive(base: str, provider_id: str, link: str) -> tuple[Controls, list[dict[str, Any]]]:
    """Register a vehicle, run the gateway's command link, send it three commands and
    wait for them to finish; the vehicle's controls and the commands as read back."""
    _, gateway_key = create_key(provider_id, "gateway")
    _, manager_key = create_key(provider_id, "operator_manager")
    manager = {"Authorization": f"Bearer {manager_key}"}
    device = str(uuid.uuid4())
    record = {
        "device_id": device,
        "provider_id": provider_id,
        "vehicle_id": "CMD-1",
        "vehicle_type": "scooter_standing",
        "propulsion_types": ["electric"],
    }
    controls = Controls()
    executor = Executor(lambda d: controls if d == device else None)
    credentials = Credentials(provider_id, gateway_key)
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        gateway = {"Authorization": f"Bearer {gateway_key}", "Accept": MDS_ACCEPT}
        created = await client.post("/mds/agency/vehicles", headers=gateway, json=[record])
        assert created.status_code == 201, created.text
        task = asyncio.create_task(
            poll_commands(client, credentials, executor, stop)
            if link == "http"
            else mqtt_commands(BROKER, [credentials], executor, stop)
        )
        bodies = [
            {"kind": "lock"},
            {"kind": "set_max_speed", "params": {"max_speed_kph": 12}},
            {"kind": "ring"},
        ]
        ids = []
        for body in bodies:
            sent = await client.post(f"/v1/vehicles/{device}/commands", headers=manager, json=body)
            assert sent.status_code == 201, sent.text
            ids.append(sent.json()["command_id"])
        read: list[dict[str, Any]] = []
        for _ in range(300):
            read = [(await client.get(f"/v1/commands/{i}", headers=manager)).json() for i in ids]
            if all(c["state"] == "done" for c in read):
                break
            await asyncio.sleep(0.1)
        stop.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return controls, read


def _check(controls: Controls, read: list[dict[str, Any]]) -> None:
    assert [c["state"] for c in read] == ["done", "done", "done"], read
    assert controls == Controls(locked=True, max_speed_kph=12.0, rings=1)
    assert [c["message"] for c in read] == ["locked", "top speed 12 km/h", "rang (ring 1)"]


async def test_the_simulators_gateway_executes_commands_over_the_long_poll(
    tmp_path: Path, provider: str
) -> None:
    with serving(ENV, tmp_path / "server.log") as (base, _):
        controls, read = await drive(base, provider, "http")
    _check(controls, read)


@pytest.mark.skipif(not _broker_up(), reason="no MQTT broker on 127.0.0.1:1883")
async def test_the_simulators_gateway_executes_commands_over_mqtt(
    tmp_path: Path, provider: str
) -> None:
    env = {**ENV, "FLEETBED_MQTT__URL": BROKER}
    with serving(env, tmp_path / "server.log") as (base, _):
        controls, read = await drive(base, provider, "mqtt")
    _check(controls, read)
    assert all(h["actor"].startswith("mqtt") for c in read for h in c["history"][1:])
