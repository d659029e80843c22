"""Alembic: the schema round-trips and matches the models."""

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.migrations import downgrade, head_revision, upgrade
from app.models import metadata
from tests.conftest import TEST_DATABASE_URL
from tests.sql import fetchval


@pytest.fixture
def scratch_database() -> Iterator[str]:
    """A fresh database with PostGIS, dropped afterwards."""
    name = f"fleetbed_scratch_{uuid.uuid4().hex[:8]}"
    fetchval(f'CREATE DATABASE "{name}"')
    fetchval("CREATE EXTENSION IF NOT EXISTS postgis", database=name)
    try:
        yield make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        fetchval(f'DROP DATABASE "{name}" WITH (FORCE)')


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


def test_downgrade_to_base_then_upgrade_to_head(scratch_database: str) -> None:
    upgrade(scratch_database)
    downgrade(scratch_database, "base")
    assert asyncio.run(_schema_diff(scratch_database)) != []
    upgrade(scratch_database)
    assert asyncio.run(_schema_diff(scratch_database)) == []


def test_head_revision_is_known() -> None:
    assert head_revision() is not None
