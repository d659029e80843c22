"""Partition upkeep against the real database: made ahead, expired ones dropped."""

from datetime import UTC, date, datetime, timedelta

from fastapi import FastAPI

from fleet.maintenance import PartitionPolicy, maintain_partitions
from telemetry.partitions import create_partitions, existing_days


async def test_maintenance_creates_ahead_and_drops_expired(app: FastAPI) -> None:
    engine = app.state.resources.engine
    today = datetime.now(UTC).date()
    ancient = date(2001, 1, 1)
    async with engine.begin() as conn:
        await create_partitions(conn, [ancient])
    created, dropped = await maintain_partitions(
        engine, PartitionPolicy(days_ahead=5, retention_days=3650), today
    )
    assert ancient in dropped
    async with engine.connect() as conn:
        have = await existing_days(conn)
    assert ancient not in have
    assert {today + timedelta(days=d) for d in range(-1, 6)} <= have
    assert set(created) <= have
    again, none = await maintain_partitions(
        engine, PartitionPolicy(days_ahead=5, retention_days=None), today
    )
    assert again == []
    assert none == []
