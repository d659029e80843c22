"""MDS Metrics test data: two published squares, hand-made vehicles, states and trips, and
the query helpers that check each answer against the official schema."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from fleet.events.models import VehicleEvent
from fleet.trips.models import Trip
from tests.config import MDS_ACCEPT
from tests.conftest import Tenant, TenantFactory
from tests.mds_schemas import response_validator
from tests.payloads import metrics_query
from tests.rows import add_vehicle as add_registered

METRICS = "/mds/metrics"
HOUR = datetime(2025, 3, 10, 10, tzinfo=UTC)
STOCKHOLM = ZoneInfo("Europe/Stockholm")
Point = tuple[float, float]  # lat, lng

# Two adjacent published squares; points well inside each, and one outside both.
IN_A: Point = (56.045, 12.695)
IN_B: Point = (56.045, 12.705)
OUTSIDE: Point = (56.020, 12.690)


def square(west: float, east: float) -> dict[str, Any]:
    ring = [[west, 56.04], [east, 56.04], [east, 56.05], [west, 56.05], [west, 56.04]]
    return {"type": "Polygon", "coordinates": [ring]}


async def publish_zones(client: AsyncClient, tenant: TenantFactory) -> tuple[str, str]:
    """Zones A and B as published geographies; returns their ids."""
    planner = await tenant(Role.CITY_PLANNER)
    ids = []
    for name, (west, east) in (("A", (12.69, 12.70)), ("B", (12.70, 12.71))):
        response = await client.post(
            "/v1/zones",
            headers={"Authorization": f"Bearer {planner.key}"},
            json={"name": name, "kind": "service_area", "geometry": square(west, east)},
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["zone_id"])
    return ids[0], ids[1]


async def add_vehicle(
    session: AsyncSession, provider_id: uuid.UUID | None, vehicle_type: str = "scooter_standing"
) -> uuid.UUID:
    """A registered vehicle, a scooter unless said otherwise."""
    return await add_registered(session, provider_id, vehicle_type)


async def add_state(
    session: AsyncSession,
    provider_id: uuid.UUID | None,
    device_id: uuid.UUID,
    at: datetime,
    state: str,
    where: Point | None = IN_A,
    geographies: list[str] | None = None,
) -> None:
    """A state change as stored by the events ingest."""
    assert provider_id is not None
    record: dict[str, Any] = {"vehicle_state": state}
    if where is not None:
        record["location"] = {"lat": where[0], "lng": where[1]}
    if geographies is not None:
        record["event_geographies"] = geographies
    session.add(
        VehicleEvent(
            event_id=uuid.uuid4(),
            device_id=device_id,
            provider_id=provider_id,
            occurred_at=at,
            vehicle_state=state,
            event_types=["comment"],
            record=record,
        )
    )
    await session.flush()


async def add_trip(
    session: AsyncSession,
    provider_id: uuid.UUID | None,
    device_id: uuid.UUID,
    start_at: datetime,
    start: Point = IN_A,
    end: Point = IN_B,
    duration_s: int = 600,
    distance_m: int = 1000,
    status: str = "closed",
) -> None:
    """A trip as the trip lifecycle stores it once measured."""
    assert provider_id is not None
    session.add(
        Trip(
            trip_id=uuid.uuid4(),
            provider_id=provider_id,
            device_id=device_id,
            status=status,
            start_at=start_at,
            start_lat=start[0],
            start_lng=start[1],
            end_at=start_at + timedelta(seconds=duration_s),
            end_lat=end[0],
            end_lng=end[1],
            duration_s=duration_s,
            distance_m=distance_m,
        )
    )
    await session.flush()


def only(who: Tenant) -> list[dict[str, Any]]:
    """A filter on one provider, keeping other tests' data out of city-wide answers."""
    return [{"name": "provider_id", "values": [str(who.provider_id)]}]


async def ask(client: AsyncClient, who: Tenant, **fields: Any) -> dict[str, Any]:
    response = await client.post(METRICS, headers=who.headers, json=metrics_query(**fields))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MDS_ACCEPT
    body: dict[str, Any] = response.json()
    check_schema(body)
    return body


def _known_conflict(path: list[Any], body: dict[str, Any]) -> bool:
    """Where reference/metrics.yaml contradicts the spec text, the text wins: every `query`
    field is returned, so no dimensions echo as [] (the schema wants `minItems: 1`), and
    filter values are strings (the schema says objects, against its own example)."""
    no_dimensions = path == ["query", "dimensions"] and body["query"]["dimensions"] == []
    return no_dimensions or (path[:2] == ["query", "filters"] and path[3:4] == ["values"])


def check_schema(body: dict[str, Any]) -> None:
    """Validate against the official reference/metrics.yaml, bar the known conflicts."""
    validator = response_validator("metrics", "/metrics", "post", 200)
    errors = [
        (path, e.message)
        for e in validator.iter_errors(body)
        if not _known_conflict(path := list(e.absolute_path), body)
    ]
    assert errors == []


def table(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows as dicts by column name."""
    names = [c["name"] for c in body["columns"]]
    return [dict(zip(names, row, strict=True)) for row in body["rows"]]


def by(body: dict[str, Any], *dimensions: str) -> dict[Any, dict[str, Any]]:
    """Rows keyed by their dimension values (one interval)."""
    return {
        tuple(r[d] for d in dimensions) if len(dimensions) > 1 else r[dimensions[0]]: r
        for r in table(body)
    }
