"""Helpers for fault tests: a PostgreSQL proxy to cut, committed tenants, zone rows by SQL.

Only the test database (and proxies and redis-servers the tests start) is ever hurt.
"""

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import CITYWIDE_ROLES, Mode, Role
from app.resources import make_engine
from app.settings import BackgroundSettings, GeofenceSettings, HotStateSettings, Settings
from fleet.tenancy.service import create_key, create_provider
from tests.config import TEST_DATABASE_URL
from tests.conftest import Tenant, make_settings

TEST_DSN = make_url(TEST_DATABASE_URL).set(drivername="postgresql")
DATABASE = TEST_DSN.database


class PostgresProxy:
    """A TCP proxy in front of the test PostgreSQL that a test stops (refusing new and
    cutting open connections) and starts again on the same port."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def database_url(self) -> str:
        """The test database, reached through the proxy."""
        url = make_url(TEST_DATABASE_URL).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    async def start(self) -> None:
        """Accept connections (on the port of the first start)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Refuse new connections and cut every open one."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(
                TEST_DSN.host or "127.0.0.1", TEST_DSN.port or 5432
            )
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


@contextlib.asynccontextmanager
async def proxy() -> AsyncIterator[PostgresProxy]:
    """A started proxy, stopped afterwards."""
    running = PostgresProxy()
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def sql(statement: str, *args: Any) -> Any:
    """Run one statement on the test database (committed); the first column of its first row."""
    conn = await asyncpg.connect(TEST_DSN.render_as_string(hide_password=False))
    try:
        return await conn.fetchval(statement, *args)
    finally:
        await conn.close()


async def terminate_backends() -> int:
    """Kill every other connection to the test database (and only to it)."""
    count: int = await sql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = $1 AND pid <> pg_backend_pid()",
        DATABASE,
    )
    return count


@contextlib.asynccontextmanager
async def committed_tenants(*roles: Role) -> AsyncIterator[list[Tenant]]:
    """One provider with a committed key per role (city-wide roles get no provider);
    the provider and everything of it are deleted afterwards."""
    settings = make_settings()
    engine = make_engine(settings)
    tenants: list[Tenant] = []
    try:
        async with engine.begin() as conn, AsyncSession(bind=conn) as session:
            provider = await create_provider(
                session, name=f"faults-{uuid.uuid4().hex[:10]}", mode=Mode.MICROMOBILITY
            )
            for role in roles:
                owner = None if role in CITYWIDE_ROLES else provider.provider_id
                issued = await create_key(session, role=role, provider_id=owner)
                tenants.append(Tenant(owner, issued.key_id, issued.key, Mode.MICROMOBILITY))
            await session.flush()
            provider_id = provider.provider_id
        yield tenants
    finally:
        await engine.dispose()
        if tenants:
            for table in ("telemetry", "events", "trips", "alerts", "zones", "providers"):
                await sql(f"DELETE FROM {table} WHERE provider_id = $1", provider_id)  # noqa: S608
            await sql(
                "DELETE FROM api_keys WHERE key_id = ANY($1::text[])", [t.key_id for t in tenants]
            )


async def insert_zone(
    name: str,
    *,
    effective_at: str = "2024-01-01T00:00:00Z",
    wkt: str | None = None,
    resolution: int = 9,
    provider_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """A zone row written by SQL, bypassing the API's checks: a 300 m disc at Helsingborg C
    unless `wkt` says otherwise, with no stored cover (so the index compiles one)."""
    shape = (
        f"ST_GeomFromText('{wkt}', 4326)"
        if wkt
        else "ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(12.6945, 56.0465), 4326), 0.003))"
    )
    zone_id = uuid.uuid4()
    await sql(
        "INSERT INTO zones (zone_id, lineage_id, version, name, kind, provider_id, geometry, "  # noqa: S608
        f"resolution, effective_at, created_by) VALUES ($1, $1, 1, $2, 'no_parking', $3, {shape}, "
        "$4, $5::text::timestamptz, 'faults-test')",
        zone_id,
        name,
        provider_id,
        resolution,
        effective_at,
    )
    return zone_id


async def eventually(
    probe: Callable[[], Awaitable[bool]], *, within_s: float = 30.0, what: str = "condition"
) -> None:
    """Poll `probe` until it holds; fail after a generous deadline (not a speed assertion)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await probe():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {within_s} s")


def fault_settings(**overrides: Any) -> Settings:
    """Settings with background work on and short intervals."""
    values: dict[str, Any] = {
        "geofence": GeofenceSettings(follow_changes=True, resync_interval_s=0.5),
        "hotstate": HotStateSettings(catchup_interval_s=0.5),
        "background": BackgroundSettings(max_backoff_s=0.5, min_stale_after_s=2.0),
    }
    values.update(overrides)
    return make_settings(**values)
