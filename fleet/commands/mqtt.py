"""The MQTT transport: commands published to `fleetbed/{provider_id}/{device_id}/commands`
(QoS 1), acks read from `fleetbed/+/+/acks`.

One supervised task per process holds the broker connection: each step serves it for a
while and returns, and a lost connection fails the step, so the supervisor reconnects
with backoff. An ack counts only for a command of the provider and vehicle its topic
names; any other is ignored and counted.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import aiomqtt
import orjson
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.errors import Conflict, NotFound
from fleet.commands import feed
from fleet.commands.delivery import CommandDelivery
from fleet.commands.schemas import MqttAck
from fleet.commands.service import ack_command
from telemetry.hotstate import keys

log = logging.getLogger("fleetbed.mqtt")

ACK_FILTER = "fleetbed/+/+/acks"
ACTOR = "mqtt"


def command_topic(provider_id: uuid.UUID, device_id: uuid.UUID) -> str:
    """Where a vehicle's commands are published."""
    return f"fleetbed/{provider_id}/{device_id}/commands"


def ack_topic(provider_id: uuid.UUID, device_id: uuid.UUID) -> str:
    """Where a vehicle's gateway publishes its acks."""
    return f"fleetbed/{provider_id}/{device_id}/acks"


def ack_source(topic: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The provider and device an ack topic names; None for a topic not of that shape."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != "fleetbed" or parts[3] != "acks":
        return None
    try:
        return uuid.UUID(parts[1]), uuid.UUID(parts[2])
    except ValueError:
        return None


def broker_address(url: str) -> tuple[str, int]:
    """Host and port of an `mqtt://host[:port]` URL."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ValueError(f"not an mqtt://host[:port] URL: {url}")
    return parts.hostname, parts.port or 1883


class MqttCommands:
    """Publishes due commands and applies acks over one broker connection."""

    def __init__(
        self,
        url: str,
        delivery: CommandDelivery,
        sessions: Callable[[], async_sessionmaker[AsyncSession]],
        count_ack: Callable[[str], None],
        *,
        serve_s: float = 5.0,
    ) -> None:
        self.host, self.port = broker_address(url)
        self.delivery = delivery
        self.sessions = sessions
        self.serve_s = serve_s
        # Called with "applied", "ignored" or "refused" for every ack read.
        self.count_ack = count_ack
        self._client: aiomqtt.Client | None = None
        self._cursor = feed.START
        # Acks and deliveries take turns: one database connection serves the transport.
        self._turn = asyncio.Lock()

    async def step(self) -> None:
        """Serve the connection for `serve_s` seconds, connecting first if needed."""
        try:
            client = await self._connected()
            await self._serve(client)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Drop the broker connection."""
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.__aexit__(None, None, None)
            except aiomqtt.MqttError as exc:
                log.info("mqtt connection closed uncleanly", extra={"error": repr(exc)})

    async def _connected(self) -> aiomqtt.Client:
        if self._client is not None:
            return self._client
        client = aiomqtt.Client(
            self.host, self.port, identifier=f"fleetbed-{uuid.uuid4().hex[:12]}"
        )
        await client.__aenter__()
        self._client = client
        await client.subscribe(ACK_FILTER, qos=1)
        self._cursor = await feed.wakeup_cursor(self.delivery.redis, keys.ALL_COMMANDS_WAKEUP)
        # What was handed out before and not answered may never have reached a vehicle.
        await self._publish(client, reconnected=True)
        log.info("mqtt connected", extra={"broker": f"{self.host}:{self.port}"})
        return client

    async def _serve(self, client: aiomqtt.Client) -> None:
        deadline = time.monotonic() + self.serve_s
        # Both return by the deadline, so an ack is never cut off half applied.
        await asyncio.gather(
            self._read_acks(client, deadline), self._publish_when_due(client, deadline)
        )

    async def _publish(self, client: aiomqtt.Client, *, reconnected: bool) -> None:
        async with self._turn:
            handed = await self.delivery.take(None, actor=ACTOR, reconnected=reconnected)
        for command in handed:
            await client.publish(
                command_topic(command.provider_id, command.device_id),
                payload=command.model_dump_json(),
                qos=1,
            )

    async def _publish_when_due(self, client: aiomqtt.Client, deadline: float) -> None:
        await self._publish(client, reconnected=False)
        while (left := deadline - time.monotonic()) > 0:
            woken = await feed.wait_for_wakeup(
                self.delivery.waiting, keys.ALL_COMMANDS_WAKEUP, self._cursor, left
            )
            if woken is not None:
                self._cursor = woken
                await self._publish(client, reconnected=False)

    async def _read_acks(self, client: aiomqtt.Client, deadline: float) -> None:
        messages = aiter(client.messages)
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = await asyncio.wait_for(anext(messages), left)
            except TimeoutError:
                return
            payload = message.payload
            await self.apply(str(message.topic), payload if isinstance(payload, bytes) else b"")

    async def apply(self, topic: str, payload: bytes) -> None:
        """Apply one ack read from `topic`; a bad or foreign one is logged and counted."""
        source = ack_source(topic)
        try:
            ack = MqttAck.model_validate(orjson.loads(payload))
        except (orjson.JSONDecodeError, ValidationError):
            ack = None
        if source is None or ack is None:
            self.count_ack("refused")
            log.warning("unreadable mqtt ack", extra={"topic": topic[:200]})
            return
        provider_id, device_id = source
        try:
            async with self._turn, self.sessions().begin() as session:
                _, changes = await ack_command(
                    session,
                    provider_id=provider_id,
                    device_id=device_id,
                    command_id=ack.command_id,
                    ack=ack.status,
                    message=ack.message,
                    actor=f"{ACTOR}:{device_id}",
                    now=datetime.now(UTC),
                )
        except NotFound:
            # Another provider's command, or another vehicle's: the topic may not act for it.
            self.count_ack("ignored")
            log.warning("mqtt ack for a command the topic does not own", extra={"topic": topic})
            return
        except Conflict as exc:
            self.count_ack("refused")
            log.warning("mqtt ack refused", extra={"topic": topic, "error": exc.detail})
            return
        self.count_ack("applied")
        await feed.publish(self.delivery.redis, changes)
