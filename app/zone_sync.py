"""Keeping every process's zone index current: Redis pub/sub, with a periodic check."""

import asyncio
import logging
from contextlib import suppress

from redis.asyncio import Redis
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


async def follow_changes(
    registry: ZoneRegistry, resources: Resources, resync_interval_s: float
) -> None:
    """Reload on every announcement, and whenever the zone table changed unannounced."""
    redis = resources.redis
    seen = await _signature(resources.sessionmaker)
    loop = asyncio.get_running_loop()
    next_check = loop.time() + resync_interval_s
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    subscribed = False
    try:
        while True:
            changed = False
            try:
                if not subscribed:
                    await pubsub.subscribe(channel(redis))
                    subscribed = True
                changed = await pubsub.get_message(timeout=1.0) is not None
            except (RedisError, OSError):
                subscribed = False
                await asyncio.sleep(1.0)
            if loop.time() >= next_check:
                next_check = loop.time() + resync_interval_s
                current = await _signature(resources.sessionmaker)
                changed = changed or current != seen
                seen = current
            if changed:
                count = await registry.reload(resources.sessionmaker)
                log.info("zone index reloaded", extra={"zones": count})
    finally:
        with suppress(RedisError, OSError):
            await pubsub.aclose()  # type: ignore[no-untyped-call]
