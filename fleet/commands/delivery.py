"""Handing commands to gateways in short transactions of their own, so a long poll holds
no database connection while it waits, and announcing each change once it is committed."""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.commands import feed
from fleet.commands.models import Command
from fleet.commands.schemas import CommandKind, GatewayCommand
from fleet.commands.service import expire_due, take_for_delivery
from telemetry.hotstate import keys


def gateway_command(command: Command) -> GatewayCommand:
    """A command as handed to a gateway."""
    return GatewayCommand(
        command_id=command.command_id,
        provider_id=command.provider_id,
        device_id=command.device_id,
        kind=CommandKind(command.kind),
        params=command.params,
        expires_at=command.expires_at,
        attempt=command.attempts,
    )


@dataclass
class CommandDelivery:
    """Delivery and expiry of commands; `waiting` is a Redis client without a read timeout
    shorter than the longest wait, for blocking reads."""

    sessions: Callable[[], async_sessionmaker[AsyncSession]]
    redis: Redis
    waiting: Redis
    redeliver_after: timedelta
    max_per_poll: int
    max_wait_s: float

    async def take(
        self, provider_id: uuid.UUID | None, *, actor: str, reconnected: bool
    ) -> list[GatewayCommand]:
        """The commands due for the provider's gateways now (every provider's for None),
        marked delivered."""
        async with self.sessions().begin() as session:
            taken, changes = await take_for_delivery(
                session,
                provider_id=provider_id,
                actor=actor,
                now=datetime.now(UTC),
                redeliver_after=self.redeliver_after,
                reconnected=reconnected,
                limit=self.max_per_poll,
            )
            handed = [gateway_command(c) for c in taken]
        await feed.publish(self.redis, changes)
        return handed

    async def poll(
        self, provider_id: uuid.UUID, *, actor: str, wait_s: float, reconnected: bool
    ) -> list[GatewayCommand]:
        """Due commands at once if there are any, else the first that come within `wait_s`."""
        deadline = time.monotonic() + min(wait_s, self.max_wait_s)
        # Taken before looking, so a command stored in between still wakes this poll.
        key = keys.command_wakeup_key(provider_id)
        cursor: str | None = await feed.wakeup_cursor(self.redis, key)
        handed = await self.take(provider_id, actor=actor, reconnected=reconnected)
        while not handed and cursor is not None and (left := deadline - time.monotonic()) > 0:
            cursor = await feed.wait_for_wakeup(self.waiting, key, cursor, left)
            if cursor is not None:
                handed = await self.take(provider_id, actor=actor, reconnected=False)
        return handed

    async def expire(self) -> None:
        """Expire every unfinished command past its expiry (a background step)."""
        async with self.sessions().begin() as session:
            changes = await expire_due(session, now=datetime.now(UTC))
        await feed.publish(self.redis, changes)

    async def close(self) -> None:
        """Close the blocking Redis client."""
        await self.waiting.aclose()
