"""Process-wide resources, created in the lifespan and closed at shutdown."""

import logging
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.settings import Settings

log = logging.getLogger("fleetbed")


@dataclass
class Resources:
    """Engine, session factory and Redis client of one process."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis
    alembic_head: str | None


def make_engine(settings: Settings) -> AsyncEngine:
    """An asyncpg engine with a bounded pool."""
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
    )


def make_redis(settings: Settings) -> Redis:
    """A Redis client that fails fast when the server is gone and reconnects after a restart."""
    return Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=1.0,
        socket_timeout=2.0,
        health_check_interval=30,
        # A pooled connection to a restarted server fails once; one quick retry reconnects.
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.01), retries=2),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )


def make_blocking_redis(settings: Settings) -> Redis:
    """A Redis client for blocking reads (long polls): no read timeout cuts a wait short."""
    return Redis.from_url(settings.redis_url, socket_connect_timeout=1.0, socket_timeout=None)


def open_resources(settings: Settings, alembic_head: str | None) -> Resources:
    """Create (lazily connecting) resources for one process."""
    engine = make_engine(settings)
    return Resources(
        engine=engine,
        sessionmaker=async_sessionmaker(engine, expire_on_commit=False),
        redis=make_redis(settings),
        alembic_head=alembic_head,
    )


async def close_resources(resources: Resources) -> None:
    """Release pools and connections; one failing to close does not keep the other open."""
    try:
        await resources.redis.aclose()
    except Exception as exc:
        log.warning("redis client did not close cleanly", extra={"error": repr(exc)})
    try:
        await resources.engine.dispose()
    except Exception as exc:
        log.warning("database pool did not close cleanly", extra={"error": repr(exc)})
