"""Fixtures against the real PostgreSQL+PostGIS and Redis.

Each test runs inside one PostgreSQL transaction that is rolled back at the end (the
app's sessions join it through savepoints), and against a Redis database of its own
that is flushed before the test.
"""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from app.core.auth import CITYWIDE_ROLES, Mode, Role
from app.main import create_app
from app.resources import make_engine
from app.settings import (
    ApiSettings,
    AuthSettings,
    CommandSettings,
    GeofenceSettings,
    HotStateSettings,
    Settings,
)
from fleet.tenancy.service import create_key, create_provider
from telemetry.partitions import PartitionPolicy, maintain_partitions
from tests.config import MDS_ACCEPT, TEST_DATABASE_URL, TEST_REDIS_URL
from tests.sql import fetchval, vacuum


def make_settings(**overrides: object) -> Settings:
    """Settings for tests; no environment is read for the parts tests depend on."""
    values: dict[str, object] = {
        "database_url": TEST_DATABASE_URL,
        "redis_url": TEST_REDIS_URL,
        "db_pool_size": 2,
        "auth": AuthSettings(jwt_secret="test-signing-key-" + "x" * 32, key_cache_ttl_s=0),
        "api": ApiSettings(default_page_size=50, max_page_size=200, max_vehicle_batch=100),
        # Tests drive upkeep themselves; background work would race with them.
        "hotstate": HotStateSettings(catchup_interval_s=0),
        "geofence": GeofenceSettings(follow_changes=False),
        # Generated requests may ask for the longest long poll; tests wait a few seconds.
        "commands": CommandSettings(max_wait_s=3),
    }
    values.update(overrides)
    return Settings.model_validate(values)


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The suite's settings."""
    return make_settings()


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """One app for the session, its lifespan running, this week's partitions committed.

    A partition made inside a test's rolled-back transaction would be remembered by the
    app's partition cache and then vanish; committed ones keep the cache truthful.
    """
    # Rolled-back rows stay behind as dead tuples, and a server without autovacuum (as
    # these machines run) keeps them across runs until every scan wades through them.
    await vacuum()
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        await maintain_partitions(
            application.state.resources.engine,
            PartitionPolicy(days_ahead=3, retention_days=None),
            datetime.now(UTC).date(),
        )
        yield application


@contextmanager
def bound_to(app: FastAPI, conn: AsyncConnection) -> Iterator[None]:
    """Make a running app's sessions join `conn`'s transaction through savepoints."""
    bound = async_sessionmaker(
        bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    resources = app.state.resources
    original = resources.sessionmaker
    resources.sessionmaker = app.state.authenticator.sessionmaker = bound
    try:
        yield
    finally:
        resources.sessionmaker = app.state.authenticator.sessionmaker = original


@pytest.fixture
async def connection(app: FastAPI, settings: Settings) -> AsyncIterator[AsyncConnection]:
    """A connection in an outer transaction that is rolled back after the test."""
    engine = make_engine(settings)
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            with bound_to(app, conn):
                yield conn
        finally:
            await transaction.rollback()
            # Zones a test published are gone with its transaction: forget them here too.
            await app.state.zones.reload(app.state.resources.sessionmaker)
    await engine.dispose()


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """A session inside the test's transaction, for arranging and inspecting data."""
    async with AsyncSession(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    ) as db:
        yield db


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """The test Redis database, empty at the start of the test."""
    client = Redis.from_url(TEST_REDIS_URL)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def client(
    app: FastAPI, connection: AsyncConnection, redis: Redis
) -> AsyncIterator[AsyncClient]:
    """An HTTP client talking to the app in-process."""
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as http:
        yield http


@dataclass(frozen=True)
class Tenant:
    """A provider with a key for one role."""

    provider_id: uuid.UUID | None
    key_id: str
    key: str
    mode: Mode

    @property
    def headers(self) -> dict[str, str]:
        """Bearer credentials and the MDS Accept header."""
        return {"Authorization": f"Bearer {self.key}", "Accept": MDS_ACCEPT}


TenantFactory = Callable[..., Awaitable[Tenant]]


def auth(tenant: Tenant) -> dict[str, str]:
    """Bearer credentials alone, as the /v1 API takes them."""
    return {"Authorization": f"Bearer {tenant.key}"}


@pytest.fixture
def tenant(session: AsyncSession) -> TenantFactory:
    """Make a provider (unless the role is city-wide) and a key for it."""

    async def make(
        role: Role = Role.GATEWAY,
        mode: Mode = Mode.MICROMOBILITY,
        provider_id: uuid.UUID | None = None,
    ) -> Tenant:
        if provider_id is None and role not in CITYWIDE_ROLES:
            provider = await create_provider(
                session, name=f"test-{uuid.uuid4().hex[:12]}", mode=mode
            )
            provider_id = provider.provider_id
        issued = await create_key(session, role=role, provider_id=provider_id)
        await session.flush()
        return Tenant(provider_id, issued.key_id, issued.key, mode)

    return make


@pytest.fixture
def scratch_database_url() -> Iterator[str]:
    """A fresh database with PostGIS but no schema, dropped afterwards."""
    name = f"fleetbed_scratch_{uuid.uuid4().hex[:8]}"
    fetchval(f'CREATE DATABASE "{name}"')
    fetchval("CREATE EXTENSION IF NOT EXISTS postgis", database=name)
    try:
        yield make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        fetchval(f'DROP DATABASE "{name}" WITH (FORCE)')
