"""Every GBFS file of every demo operator, as the demo seeds it, against the official schemas."""

import random
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.mstime import to_ms
from app.routers.zones import zone_limits
from app.settings import Settings
from demo.city import GEODATA, OPERATORS
from demo.history import HistoryOptions
from demo.seed import seed_demo
from fleet.gbfs.cache import FeedCache
from fleet.gbfs.service import RENTAL_MODES
from fleet.vehicles.models import Vehicle
from telemetry.hotstate.store import PositionUpdate, StateUpdate
from tests.gbfs_schemas import assert_gbfs_valid
from tests.mds_schemas import PROJECT_ROOT

STATES = ("available", "available", "available", "reserved", "on_trip", "non_operational")


@pytest.fixture
def geodata() -> Path:
    path = PROJECT_ROOT / GEODATA
    if not path.exists():
        pytest.skip(f"the demo's geodata is not at {path}")
    return path


async def test_every_file_of_every_demo_operator_validates(
    app: FastAPI,
    client: AsyncClient,
    session: AsyncSession,
    settings: Settings,
    geodata: Path,
) -> None:
    now = datetime.now(UTC)
    await seed_demo(
        session,
        vehicles=120,
        geodata=geodata,
        limits=zone_limits(settings.geofence),
        keys=None,
        now=now,
        history=HistoryOptions(weeks=0),
    )
    await session.flush()
    await app.state.zones.reload(app.state.resources.sessionmaker)
    rng = random.Random(7)
    hot = app.state.live.hot
    rentable: dict[str, int] = {}
    for operator in OPERATORS:
        rows = (
            await session.execute(
                select(Vehicle.device_id, Vehicle.vehicle_type).where(
                    Vehicle.provider_id == operator.provider_id
                )
            )
        ).all()
        t = to_ms(now) - 30_000
        states = [StateUpdate(str(d), t, rng.choice(STATES), vt) for d, vt in rows]
        rentable[operator.key] = sum(s.state in {"available", "reserved"} for s in states)
        positions = [
            PositionUpdate(
                str(d), t, 56.03 + rng.random() * 0.04, 12.69 + rng.random() * 0.04, 60, 0.0, vt
            )
            for d, vt in rows
        ]
        await hot.apply_states(operator.provider_id, states)
        await hot.apply_positions(operator.provider_id, positions)

    app.state.gbfs.cache = FeedCache()
    manifest = (await client.get("/gbfs/manifest.json")).json()
    assert_gbfs_valid("manifest", manifest)
    rental = [o for o in OPERATORS if o.mode.value in RENTAL_MODES]
    systems = {d["system_id"] for d in manifest["data"]["datasets"]}
    assert {f"{o.key}_helsingborg" for o in rental} <= systems
    for operator in rental:
        gbfs = (await client.get(f"/gbfs/{operator.key}_helsingborg/gbfs.json")).json()
        assert_gbfs_valid("gbfs", gbfs)
        for entry in gbfs["data"]["feeds"]:
            response = await client.get(urlsplit(entry["url"]).path)
            assert response.status_code == 200, (entry, response.text)
            assert_gbfs_valid(entry["name"], response.json())
            if entry["name"] == "vehicle_status":
                # Available and reserved ones only: none on a trip, none broken.
                assert len(response.json()["data"]["vehicles"]) == rentable[operator.key]
            if entry["name"] == "system_information":
                info = response.json()["data"]
                assert info["languages"] == ["sv", "en"]
                assert {t["language"] for t in info["operator"]} == {"sv", "en"}
        assert "system_pricing_plans" in [e["name"] for e in gbfs["data"]["feeds"]]
    assert all(rentable.values())
