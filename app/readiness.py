"""Readiness checks of the services a fleetbed process depends on."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text

from app.resources import Resources
from geofencing.zones import SkippedZone

CHECK_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Check:
    """Outcome of one dependency check."""

    name: str
    ok: bool
    detail: str


async def _postgres(resources: Resources) -> list[Check]:
    async with resources.engine.connect() as conn:
        postgis = (
            await conn.execute(text("SELECT extversion FROM pg_extension WHERE extname='postgis'"))
        ).scalar_one_or_none()
        migrated = (
            await conn.execute(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
        ).scalar_one()
        revision = (
            (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
            if migrated
            else None
        )
    at_head = revision is not None and revision == resources.alembic_head
    return [
        Check("postgresql", True, "reachable"),
        Check("postgis", postgis is not None, f"version {postgis}" if postgis else "not enabled"),
        Check(
            "migrations",
            at_head,
            f"at {revision}" if at_head else f"at {revision}, head is {resources.alembic_head}",
        ),
    ]


async def _redis(resources: Resources) -> list[Check]:
    await resources.redis.ping()
    return [Check("redis", True, "reachable")]


async def check_all(resources: Resources) -> list[Check]:
    """Run every check with a timeout; a failing check names its service."""
    results: list[Check] = []
    for name, probe in (("postgresql", _postgres), ("redis", _redis)):
        try:
            results.extend(await asyncio.wait_for(probe(resources), CHECK_TIMEOUT_S))
        except Exception as exc:
            results.append(Check(name, False, f"{type(exc).__name__}: {exc}"[:200]))
    return results


def zones_check(loaded: bool, skipped: Sequence[SkippedZone]) -> Check:
    """The zone index: failing until it loaded once; skipped rows are reported, not failing.

    A skipped zone is a stored row this version cannot index (logged with its error); the
    process serves every other zone, so it stays ready and an operator fixes the row.
    """
    if not loaded:
        return Check("zones", False, "zone index not loaded yet")
    if not skipped:
        return Check("zones", True, "all zones indexed")
    ids = ", ".join(str(zone.zone_id) for zone in skipped)
    return Check("zones", True, f"{len(skipped)} zones skipped: {ids}"[:500])
