"""Alembic: the schema round-trips and matches the models."""

import ast
import asyncio
import uuid
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.migrations import SCRIPT_LOCATION, downgrade, head_revision, upgrade
from app.models import metadata
from tests.sql import fetchval


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


def _revision_graph() -> dict[str, set[str]]:
    """Each migration file's revision and the revisions it builds on, read from the files."""
    graph: dict[str, set[str]] = {}
    for path in (SCRIPT_LOCATION / "versions").glob("*.py"):
        values = {
            node.target.id: ast.literal_eval(node.value)
            for node in ast.parse(path.read_text()).body
            if isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.value is not None
        }
        down = values.get("down_revision")
        graph[values["revision"]] = set(down if isinstance(down, tuple) else [down]) - {None}
    return graph


def test_head_revision_is_the_one_no_migration_builds_on() -> None:
    graph = _revision_graph()
    assert len(graph) > 1
    heads = set(graph) - set().union(*graph.values())
    assert heads == {head_revision()}


BEFORE_DEVICES_PER_PROVIDER = "20261126_0008"
PROVIDERS = ("6d1c1c59-6b1e-4c49-9d8e-0b7f2a1e4c01", "6d1c1c59-6b1e-4c49-9d8e-0b7f2a1e4c02")
DEVICE = "0f9e8d7c-6b5a-4938-8271-605f4e3d2c1b"
_KEY_COLUMNS = """
SELECT array_agg(a.attname::text ORDER BY k.n) FROM pg_constraint c
CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
WHERE c.conrelid = CAST($1 AS regclass) AND c.contype = 'p'
"""


def _key(url: str, table: str) -> list[str]:
    return list(fetchval(_KEY_COLUMNS, table, database=make_url(url).database))


def _add_device(url: str, provider_id: str) -> None:
    database = make_url(url).database
    fetchval(
        "INSERT INTO providers (provider_id, name, mode) VALUES ($1, $2, 'micromobility')",
        uuid.UUID(provider_id),
        provider_id,
        database=database,
    )
    fetchval(
        "INSERT INTO vehicles (device_id, provider_id, vehicle_id, vehicle_type, record) "
        "VALUES ($1, $2, 'V1', 'bicycle', '{}')",
        uuid.UUID(DEVICE),
        uuid.UUID(provider_id),
        database=database,
    )
    fetchval(
        "INSERT INTO telemetry (device_id, recorded_at, provider_id, telemetry_id, lat, lng) "
        "VALUES ($1, '2026-11-30T12:00:00Z', $2, gen_random_uuid(), 56.0, 12.7)",
        uuid.UUID(DEVICE),
        uuid.UUID(provider_id),
        database=database,
    )


def test_device_ids_per_provider_round_trip_with_partitions_and_rows(
    scratch_database_url: str,
) -> None:
    url = scratch_database_url
    upgrade(url, BEFORE_DEVICES_PER_PROVIDER)
    fetchval(
        "CREATE TABLE telemetry_p20261130 PARTITION OF telemetry "
        "FOR VALUES FROM ('2026-11-30T00:00:00Z') TO ('2026-12-01T00:00:00Z')",
        database=make_url(url).database,
    )
    _add_device(url, PROVIDERS[0])
    upgrade(url)
    assert _key(url, "vehicles") == ["provider_id", "device_id"]
    for table in ("telemetry", "telemetry_p20261130"):
        assert _key(url, table) == ["provider_id", "device_id", "recorded_at"]
    _add_device(url, PROVIDERS[1])  # the same device id and time under another provider
    fetchval(
        "DELETE FROM providers WHERE provider_id = $1",
        uuid.UUID(PROVIDERS[1]),
        database=make_url(url).database,
    )
    fetchval(
        "DELETE FROM telemetry WHERE provider_id = $1",
        uuid.UUID(PROVIDERS[1]),
        database=make_url(url).database,
    )
    downgrade(url, BEFORE_DEVICES_PER_PROVIDER)
    assert _key(url, "vehicles") == ["device_id"]
    for table in ("telemetry", "telemetry_p20261130"):
        assert _key(url, table) == ["device_id", "recorded_at"]
    assert fetchval("SELECT count(*) FROM vehicles", database=make_url(url).database) == 1
    upgrade(url)
    assert asyncio.run(_schema_diff(url)) == []
