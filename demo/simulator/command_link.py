"""The gateways' side of vehicle commands: take them over the HTTP long poll (default)
or MQTT, carry them out on the simulated vehicles, and ack them.

Delivery is at least once, so each gateway remembers what it carried out and acks a
command it sees again with the same answer, without doing it twice.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import httpx
import orjson

from demo.simulator.controls import Controls, execute
from demo.simulator.gateway import Credentials

log = logging.getLogger("fleetbed.simulator.commands")

POLL_WAIT_S = 20
RETRY_S = 2.0
Lookup = Callable[[str], Controls | None]


@dataclass
class Executor:
    """Carries out each command once; `done` keeps the answer per command id."""

    lookup: Lookup
    done: dict[str, tuple[str, str]] = field(default_factory=dict)

    def answer(self, command: dict[str, Any]) -> tuple[str, str]:
        """The ack of a delivered command, carrying it out the first time it is seen."""
        command_id = str(command["command_id"])
        if command_id not in self.done:
            controls = self.lookup(str(command["device_id"]))
            self.done[command_id] = execute(controls, str(command["kind"]), command["params"])
            log.info(
                "command %s %s on %s: %s",
                command_id,
                command["kind"],
                command["device_id"],
                self.done[command_id][1],
            )
        return self.done[command_id]


async def poll_commands(
    client: httpx.AsyncClient, credentials: Credentials, executor: Executor, stop: asyncio.Event
) -> None:
    """One provider's gateway on the HTTP long poll until `stop`."""
    headers = {"Authorization": f"Bearer {credentials.gateway_key}"}
    reconnect = True
    while not stop.is_set():
        try:
            response = await client.get(
                "/v1/gateway/commands",
                params={"wait": POLL_WAIT_S, "reconnect": str(reconnect).lower()},
                headers=headers,
                timeout=POLL_WAIT_S + 10,
            )
            response.raise_for_status()
            reconnect = False
            for command in response.json()["commands"]:
                status, message = executor.answer(command)
                await client.post(
                    f"/v1/gateway/commands/{command['command_id']}/ack",
                    json={"status": status, "message": message},
                    headers=headers,
                )
        except httpx.HTTPError as exc:
            # Unanswered commands come again on the first poll after reconnecting.
            log.warning("command poll failed: %r", exc)
            reconnect = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_S)


async def mqtt_commands(
    url: str, credentials: list[Credentials], executor: Executor, stop: asyncio.Event
) -> None:
    """Every provider's gateway on the MQTT broker at `url` until `stop`."""
    host, _, port = url.removeprefix("mqtt://").partition(":")
    while not stop.is_set():
        try:
            async with aiomqtt.Client(host, int(port or 1883)) as client:
                for c in credentials:
                    await client.subscribe(f"fleetbed/{c.provider_id}/+/commands", qos=1)
                messages = aiter(client.messages)
                while not stop.is_set():
                    message = await anext(messages)
                    payload = message.payload
                    if not isinstance(payload, bytes):
                        continue
                    command = orjson.loads(payload)
                    status, text = executor.answer(command)
                    ack_topic = str(message.topic).removesuffix("/commands") + "/acks"
                    body = {"command_id": command["command_id"], "status": status, "message": text}
                    await client.publish(ack_topic, orjson.dumps(body), qos=1)
        except aiomqtt.MqttError as exc:
            log.warning("mqtt connection lost: %r", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_S)
