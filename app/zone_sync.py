"""Keeping every process's zone index current: Redis pub/sub, with a periodic check."""

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.resources import Resources
from geofencing.models import Zone
from geofencing.registry import ZoneRegistry

log = logging.getLogger("fleetbed.zones")


def channel(redis: Redis) -> str:
    """The announcement channel of the deployment whose hot state is in `redis`'s database.

    Pub/sub ignores database numbers; naming the database keeps deployments that share a
    Redis server (a demo beside a test run) from reloading on each other's changes.
    """
    return f"fb:zones:changed:{redis.connection_pool.connection_kwargs.get('db', 0)}"


async def announce_change(redis: Redis) -> None:
    """Tell every process that zones changed; the periodic check covers a lost message."""
    try:
        await redis.publish(channel(redis), "changed")
    except (RedisError, OSError) as exc:
        log.warning("could not announce a zone change", extra={"error": repr(exc)})


async def _signature(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[object, ...]:
    async with sessionmaker() as session:
        row = (
            await session.execute(
                select(func.count(), func.max(Zone.published_at), func.max(Zone.retired_at))
            )
        ).one()
        return tuple(row)


@dataclass
class ZoneSync:
    """Follows zone changes: one `step` waits briefly for an announcement, checks the zone
    table when due, and reloads when either says so. A failed step changes nothing it
    has not finished, so the supervisor's retry picks up where it stopped."""

    registry: ZoneRegistry
    resources: Resources
    resync_interval_s: float
    # How long one step listens for an announcement.
    listen_s: float = 1.0
    _seen: tuple[object, ...] | None = None
    _pending: bool = False
    _next_check: float = 0.0
    _pubsub: PubSub | None = None

    async def step(self) -> None:
        """Listen, check when due, reload if anything changed; raises on database errors."""
        self._pending = await self._heard() or self._pending
        loop = asyncio.get_running_loop()
        if loop.time() < self._next_check and not self._pending and self.registry.loaded:
            return
        current = await _signature(self.resources.sessionmaker)
        if self._pending or current != self._seen or not self.registry.loaded:
            count = await self.registry.reload(self.resources.sessionmaker)
            log.info("zone index reloaded", extra={"zones": count})
        self._seen, self._pending = current, False
        self._next_check = loop.time() + self.resync_interval_s

    async def _heard(self) -> bool:
        """Whether an announcement arrived; a Redis outage is waited out, not raised: the
        periodic check of the table covers it."""
        try:
            if self._pubsub is None:
                pubsub = self.resources.redis.pubsub(ignore_subscribe_messages=True)
                self._pubsub = pubsub
                await pubsub.subscribe(channel(self.resources.redis))
                # Announcements made while unsubscribed are lost: check the table now.
                self._next_check = 0.0
            return await self._pubsub.get_message(timeout=self.listen_s) is not None
        except (RedisError, OSError):
            await self.close()
            await asyncio.sleep(self.listen_s)
            return False

    async def close(self) -> None:
        """Drop the subscription (it is made again on the next step)."""
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with suppress(RedisError, OSError):
                await pubsub.aclose()
