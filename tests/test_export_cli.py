"""`fleetbed export`: the same bytes as the endpoint, a progress line, an audited pull.

The CLI runs in its own process, so its data is committed (and deleted afterwards); the
audit log keeps the CLI's entries, as it keeps every pull.
"""

import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.settings import Settings
from fleet.reporting.models import AuditEntry
from tests.config import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.conftest import TenantFactory
from tests.exports import T0, pull
from tests.processes import FLEETBED
from tests.sql import fetchval

START, END = T0 - timedelta(days=400), T0 - timedelta(days=399)


def fleetbed(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI against the test database with the suite's signing key (and salt)."""
    secret = settings.auth.jwt_secret
    assert secret is not None
    env = {
        **os.environ,
        "FLEETBED_DATABASE_URL": TEST_DATABASE_URL,
        "FLEETBED_REDIS_URL": TEST_REDIS_URL,
        "FLEETBED_AUTH__JWT_SECRET": secret.get_secret_value(),
    }
    return subprocess.run(
        [FLEETBED, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def committed_trips() -> Iterator[uuid.UUID]:
    """A provider with seven closed trips, committed; all deleted afterwards."""
    provider = uuid.uuid4()
    fetchval(
        "INSERT INTO providers (provider_id, name, mode) VALUES ($1, $2, 'micromobility')",
        provider,
        f"export-cli-{provider.hex[:8]}",
    )
    fetchval(
        "INSERT INTO trips (trip_id, provider_id, device_id, status, start_at, start_lat,"
        " start_lng, end_at, end_lat, end_lng, duration_s, distance_m, parking_category)"
        " SELECT gen_random_uuid(), $1, gen_random_uuid(), 'closed',"
        " $2::timestamptz + i * interval '7 min', 56.0461 + i * 0.00001, 12.6942,"
        " $2::timestamptz + i * interval '8 min',"
        " 56.0517, 12.7013 + i * 0.00001, 480, 1300, 'rack' FROM generate_series(1, 7) i",
        provider,
        START,
    )
    try:
        yield provider
    finally:
        fetchval("DELETE FROM trips WHERE provider_id = $1", provider)
        fetchval("DELETE FROM providers WHERE provider_id = $1", provider)


@pytest.mark.parametrize(("fmt", "privacy"), [("csv", "raw"), ("csv", "open"), ("parquet", "raw")])
async def test_the_cli_writes_what_the_endpoint_sends(
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    settings: Settings,
    committed_trips: uuid.UUID,
    tmp_path: Path,
    fmt: str,
    privacy: str,
) -> None:
    out = tmp_path / f"trips.{fmt}"
    result = fleetbed(
        settings,
        "export",
        "trips",
        "--from",
        START.isoformat(),
        "--to",
        END.isoformat(),
        "--format",
        fmt,
        "--privacy",
        privacy,
        "--provider-id",
        str(committed_trips),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert "7 rows written to" in result.stderr
    auditor = await tenant(Role.CITY_AUDITOR)
    response = await pull(
        client,
        auditor,
        start=START,
        end=END,
        format=fmt,
        privacy=privacy,
        provider_id=committed_trips,
    )
    assert response.status_code == 200, response.text
    assert out.read_bytes() == response.content
    cli_pulls = (
        await session.scalars(
            select(AuditEntry).where(
                AuditEntry.key_id == "cli",
                AuditEntry.params["provider_id"].astext == str(committed_trips),
            )
        )
    ).all()
    assert [(e.role, e.action, e.rows, e.params["privacy"]) for e in cli_pulls] == [
        ("admin", "exports.trips", 7, privacy)
    ]


def test_bad_arguments_write_nothing(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "never.csv"
    result = fleetbed(
        settings, "export", "events", "--from", END.isoformat(), "--to", START.isoformat(),
        "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 2
    assert "to must be later than from" in result.stderr
    assert not out.exists()
    assert not out.with_name("never.csv.part").exists()
