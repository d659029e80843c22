"""Plain SQL against the test server, outside any test transaction (sync, for setup)."""

import asyncio
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from tests.config import TEST_DATABASE_URL


def _dsn(database: str | None) -> str:
    url = make_url(TEST_DATABASE_URL).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


async def _run(sql: str, args: tuple[Any, ...], database: str | None) -> Any:
    conn = await asyncpg.connect(_dsn(database))
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


def fetchval(sql: str, *args: Any, database: str | None = None) -> Any:
    """Run one statement (committed) and return the first column of its first row."""
    return asyncio.run(_run(sql, args, database))


async def vacuum() -> None:
    """Reclaim the test database's dead rows and refresh its statistics."""
    conn = await asyncpg.connect(_dsn(None))
    try:
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()


# Tables that hold a provider's rows without a foreign key that deletes them with it.
_UNLINKED = ("telemetry", "events", "alerts", "trips", "tasks", "task_rules", "zones")


async def _drop_provider(provider_id: Any) -> None:
    conn = await asyncpg.connect(_dsn(None))
    try:
        async with conn.transaction():
            for table in _UNLINKED:
                await conn.execute(f"DELETE FROM {table} WHERE provider_id = $1", provider_id)  # noqa: S608
            await conn.execute("DELETE FROM providers WHERE provider_id = $1", provider_id)
    finally:
        await conn.close()


def drop_provider(provider_id: Any) -> None:
    """Delete a provider a test committed, and everything it holds (committed)."""
    asyncio.run(_drop_provider(provider_id))
