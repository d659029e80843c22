"""Alembic: the schema round-trips and matches the models."""

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.migrations import downgrade, head_revision, upgrade
from app.models import metadata


def _ours(obj: Any, name: str | None, type_: str, *_: Any) -> bool:
    # PostGIS brings tables of its own; only fleetbed's are compared.
    return type_ != "table" or name in metadata.tables


def _diff(sync: Connection) -> list[Any]:
    context = MigrationContext.configure(sync, opts={"compare_type": True, "include_object": _ours})
    return list(compare_metadata(context, metadata))


async def _schema_diff(url: str) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_diff)
    finally:
        await engine.dispose()


def test_downgrade_to_base_then_upgrade_to_head(scratch_database_url: str) -> None:
    upgrade(scratch_database_url)
    downgrade(scratch_database_url, "base")
    assert asyncio.run(_schema_diff(scratch_database_url)) != []
    upgrade(scratch_database_url)
    assert asyncio.run(_schema_diff(scratch_database_url)) == []


def test_head_revision_is_known() -> None:
    assert head_revision() is not None
