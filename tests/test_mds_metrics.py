"""MDS Metrics: discovery, each measure on hand-made data, k, dimensions, DST days,
tenancy, bad requests, audit, and the official schema."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import h3.api.basic_int as h3
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.auth import Role
from app.main import create_app
from app.settings import MetricsSettings
from tests.config import MDS_ACCEPT
from tests.conftest import TenantFactory, bound_to, make_settings
from tests.mds_schemas import response_validator
from tests.metrics import (
    HOUR,
    IN_A,
    IN_B,
    METRICS,
    OUTSIDE,
    STOCKHOLM,
    Point,
    add_state,
    add_trip,
    add_vehicle,
    ask,
    by,
    only,
    publish_zones,
    table,
)
from tests.payloads import metrics_query


@pytest.fixture
async def lenient(connection: AsyncConnection) -> AsyncIterator[AsyncClient]:
    """A client of an app with k = 1 and at most 30 rows, for small hand-made data."""
    app = create_app(make_settings(metrics=MetricsSettings(k_anonymity=1, max_rows=30)))
    async with app.router.lifespan_context(app):
        with bound_to(app, connection):
            async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
                yield http


async def test_discovery_lists_what_fleetbed_supports(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    auditor = await tenant(Role.CITY_AUDITOR)
    response = await client.get(METRICS, headers=auditor.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MDS_ACCEPT
    body = response.json()
    validator = response_validator("metrics", "/metrics", "get", 200)
    assert [e.message for e in validator.iter_errors(body)] == []
    [metric] = body["metrics"]
    assert {
        "vehicles.available.avg",
        "trips.start_loc.count",
        "trips.end_loc.count",
        "trips.start_loc.duration.avg",
        "trips.start_loc.distance.avg",
        "dockless.utilization.trips_per_vehicle.avg",
    } <= set(metric["measures"])
    assert metric["intervals"] == ["PT1H", "P1D"]
    assert metric["since"] == "2018-01-01T00:00+00:00"
    assert body["max_intervals"] == 1000
    assert body["dimensions"] == [
        "provider_id",
        "geography_id",
        "vehicle_type",
        "h3_res7",
        "h3_res8",
    ]
    assert body["filters"] == ["provider_id", "geography_id", "vehicle_type"]
    gateway = await tenant()
    refused = await client.get(METRICS, headers=gateway.headers)
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    assert (
        await client.post(METRICS, headers=gateway.headers, json=metrics_query())
    ).status_code == 403
    old = {**auditor.headers, "Accept": "application/vnd.mds+json;version=1.2"}
    assert (await client.get(METRICS, headers=old)).status_code == 406


async def test_available_vehicles_are_averaged_over_time(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    operator = await tenant()
    pid = operator.provider_id
    first, second = await add_vehicle(session, pid), await add_vehicle(session, pid)
    # The first was available since the day before and stops at 10:30; the second,
    # removed before, becomes available at 10:30: one vehicle on average over 10-11.
    await add_state(session, pid, first, HOUR - timedelta(days=1), "available")
    await add_state(session, pid, first, HOUR + timedelta(minutes=30), "non_operational")
    await add_state(session, pid, second, HOUR - timedelta(hours=2), "removed")
    await add_state(session, pid, second, HOUR + timedelta(minutes=30), "available")
    auditor = await tenant(Role.CITY_AUDITOR)
    measures = ["vehicles.available.avg", "dockless.deployed.avg"]
    hourly = await ask(
        client, auditor, measures=measures, end_date="2025-03-10T11:00", filters=only(operator)
    )
    assert hourly["rows"] == [
        ["2025-03-10T10:00+00:00", 1.0, 1.5],
        ["2025-03-10T11:00+00:00", 1.0, 2.0],
    ]
    assert hourly["columns"] == [
        {"name": "interval_start", "column_type": "dimension", "data_type": "datetime"},
        {"name": "vehicles.available.avg", "column_type": "metric", "data_type": "float"},
        {"name": "dockless.deployed.avg", "column_type": "metric", "data_type": "float"},
    ]
    # The whole UTC day: 10.5 h + 13.5 h available, 24 h + 13.5 h deployed.
    daily = await ask(
        client,
        auditor,
        measures=measures,
        interval="P1D",
        start_date="2025-03-10T00:00",
        filters=only(operator),
    )
    assert daily["rows"] == [["2025-03-10T00:00+00:00", 1.0, 1.5625]]
    before = await ask(
        client, auditor, measures=measures, start_date="2025-03-09T08:00", filters=only(operator)
    )
    assert before["rows"] == [["2025-03-09T08:00+00:00", 0.0, 0.0]]


async def test_trips_per_geography_with_k_suppression(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    zone_a, zone_b = await publish_zones(client, tenant)
    operator = await tenant()
    pid = operator.provider_id
    device = await add_vehicle(session, pid)
    for i in range(10):  # ten from A to B: 60..600 s, 100..1000 m
        await add_trip(
            session,
            pid,
            device,
            HOUR + timedelta(minutes=i),
            IN_A,
            IN_B,
            60 * (i + 1),
            100 * (i + 1),
        )
    for i in range(9):  # nine from B to B
        await add_trip(session, pid, device, HOUR + timedelta(minutes=i), IN_B, IN_B)
    await add_trip(session, pid, device, HOUR, OUTSIDE, IN_A)  # in no geography at its start
    await add_trip(session, pid, device, HOUR, IN_A, IN_A, status="open")  # not counted
    await add_trip(session, pid, device, HOUR + timedelta(hours=1), IN_A, IN_A)  # next hour
    auditor = await tenant(Role.CITY_AUDITOR)
    measures = [
        "trips.start_loc.count",
        "trips.end_loc.count",
        "trips.start_loc.duration.avg",
        "trips.start_loc.distance.avg",
        "trips.end_loc.duration.avg",
    ]
    body = await ask(
        client, auditor, measures=measures, dimensions=["geography_id"], filters=only(operator)
    )
    rows = by(body, "geography_id")
    assert set(rows) == {zone_a, zone_b}
    assert [rows[zone_a][m] for m in measures] == [10, -1, 330.0, 550.0, -1]
    # B: nine starts (and their averages) suppressed; 19 ends there, one more in A.
    assert [rows[zone_b][m] for m in measures] == [-1, 19, -1, -1, round(8700 / 19, 4)]
    whole = await ask(client, auditor, measures=measures[:2], filters=only(operator))
    assert whole["rows"] == [["2025-03-10T10:00+00:00", 20, 20]]
    narrowed = await ask(
        client,
        auditor,
        measures=measures[:1],
        filters=[*only(operator), {"name": "geography_id", "values": [zone_a]}],
    )
    assert narrowed["rows"] == [["2025-03-10T10:00+00:00", 10]]


async def test_trips_per_vehicle_is_trips_over_deployed_vehicles(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    operator = await tenant()
    pid = operator.provider_id
    devices = [await add_vehicle(session, pid), await add_vehicle(session, pid)]
    for device in devices:
        await add_state(session, pid, device, HOUR - timedelta(hours=3), "available")
    for i in range(10):
        await add_trip(session, pid, devices[i % 2], HOUR + timedelta(minutes=5 * i))
    for i in range(9):
        await add_trip(session, pid, devices[i % 2], HOUR + timedelta(hours=1, minutes=5 * i))
    auditor = await tenant(Role.CITY_AUDITOR)
    measures = [
        "dockless.utilization.trips_per_vehicle.avg",
        "trips.start_loc.count",
        "dockless.deployed.avg",
    ]
    body = await ask(
        client,
        auditor,
        measures=measures,
        end_date="2025-03-10T11:00",
        filters=only(operator),
    )
    assert body["rows"] == [
        ["2025-03-10T10:00+00:00", 5.0, 10, 2.0],
        ["2025-03-10T11:00+00:00", -1, -1, 2.0],
    ]


async def test_provider_and_vehicle_type_dimensions_and_filters(
    lenient: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    first, second = await tenant(), await tenant()
    bike = await add_vehicle(session, first.provider_id, "bicycle")
    scooter = await add_vehicle(session, first.provider_id)
    their_bike = await add_vehicle(session, second.provider_id, "bicycle")
    for device, owner, count in ((bike, first, 2), (scooter, first, 1), (their_bike, second, 3)):
        for _ in range(count):
            await add_trip(session, owner.provider_id, device, HOUR)
    auditor = await tenant(Role.CITY_AUDITOR)
    both = [{"name": "provider_id", "values": [str(first.provider_id), str(second.provider_id)]}]
    body = await ask(lenient, auditor, dimensions=["provider_id", "vehicle_type"], filters=both)
    counts = {
        k: r["trips.start_loc.count"] for k, r in by(body, "provider_id", "vehicle_type").items()
    }
    assert counts == {
        (str(first.provider_id), "bicycle"): 2,
        (str(first.provider_id), "scooter_standing"): 1,
        (str(second.provider_id), "bicycle"): 3,
    }
    assert [c["data_type"] for c in body["columns"]] == ["datetime", "string", "string", "integer"]
    bikes = await ask(
        lenient,
        auditor,
        dimensions=["vehicle_type"],
        filters=[*both, {"name": "vehicle_type", "values": ["bicycle"]}],
    )
    assert bikes["rows"] == [["2025-03-10T10:00+00:00", "bicycle", 5]]
    assert bikes["query"]["filters"] == [*both, {"name": "vehicle_type", "values": ["bicycle"]}]


async def test_h3_cells_as_a_dimension(
    lenient: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    operator = await tenant()
    pid = operator.provider_id
    device = await add_vehicle(session, pid)
    far: Point = (56.10, 12.80)
    for start in (IN_A, IN_A, far):
        await add_trip(session, pid, device, HOUR, start, IN_B)
    await add_state(session, pid, device, HOUR - timedelta(hours=1), "available", where=far)
    auditor = await tenant(Role.CITY_AUDITOR)

    def cell(point: Point, resolution: int) -> str:
        return str(h3.int_to_str(h3.latlng_to_cell(point[0], point[1], resolution)))

    assert cell(IN_A, 8) != cell(far, 8)
    body = await ask(
        lenient,
        auditor,
        measures=["trips.start_loc.count", "trips.end_loc.count", "vehicles.available.avg"],
        dimensions=["h3_res8"],
        filters=only(operator),
    )
    rows = by(body, "h3_res8")
    assert set(rows) == {cell(IN_A, 8), cell(far, 8), cell(IN_B, 8)}
    assert [
        rows[cell(IN_A, 8)][m] for m in ("trips.start_loc.count", "vehicles.available.avg")
    ] == [2, 0.0]
    assert rows[cell(far, 8)]["trips.start_loc.count"] == 1
    assert rows[cell(far, 8)]["vehicles.available.avg"] == 1.0
    assert rows[cell(IN_B, 8)]["trips.end_loc.count"] == 3
    coarse = await ask(lenient, auditor, dimensions=["h3_res7"], filters=only(operator))
    assert {r["h3_res7"] for r in table(coarse)} == {cell(IN_A, 7), cell(far, 7)}


async def test_events_without_location_count_in_the_geographies_they_list(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    zone_a, zone_b = await publish_zones(client, tenant)
    operator = await tenant()
    pid = operator.provider_id
    listed, located = await add_vehicle(session, pid), await add_vehicle(session, pid)
    since = HOUR - timedelta(hours=1)
    await add_state(session, pid, listed, since, "available", where=None, geographies=[zone_b])
    await add_state(session, pid, located, since, "available", where=IN_A)
    auditor = await tenant(Role.CITY_AUDITOR)
    body = await ask(
        client,
        auditor,
        measures=["vehicles.available.avg"],
        dimensions=["geography_id"],
        filters=only(operator),
    )
    rows = by(body, "geography_id")
    assert {z: r["vehicles.available.avg"] for z, r in rows.items()} == {zone_a: 1.0, zone_b: 1.0}


async def test_local_days_have_23_or_25_hours(
    lenient: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    operator = await tenant()
    pid = operator.provider_id
    always, later = await add_vehicle(session, pid), await add_vehicle(session, pid)
    await add_state(session, pid, always, datetime(2025, 3, 1, tzinfo=UTC), "available")
    # From local noon of the short day, and of the long day.
    for day in (datetime(2025, 3, 30, 12), datetime(2025, 10, 26, 12)):
        noon = day.replace(tzinfo=STOCKHOLM).astimezone(UTC)
        await add_state(session, pid, later, noon, "available")
        await add_state(session, pid, later, noon + timedelta(hours=12), "removed")
    # 00:30 local on 30 March is still 29 March in UTC.
    await add_trip(session, pid, always, datetime(2025, 3, 29, 23, 30, tzinfo=UTC))
    auditor = await tenant(Role.CITY_AUDITOR)
    measures = ["vehicles.available.avg", "trips.start_loc.count"]
    local = {"timezone": "Europe/Stockholm", "filters": only(operator), "measures": measures}
    spring = await ask(
        lenient,
        auditor,
        interval="P1D",
        start_date="2025-03-30T00:00",
        end_date="2025-03-31T00:00",
        **local,
    )
    assert spring["rows"] == [
        ["2025-03-30T00:00+01:00", round((23 + 12) / 23, 4), 1],
        ["2025-03-31T00:00+02:00", 1.0, -1],
    ]
    assert spring["query"]["start_date"] == "2025-03-30T00:00+01:00"
    autumn = await ask(lenient, auditor, interval="P1D", start_date="2025-10-26T00:00", **local)
    assert autumn["rows"] == [["2025-10-26T00:00+02:00", round((25 + 12) / 25, 4), -1]]
    in_utc = await ask(
        lenient,
        auditor,
        measures=measures,
        interval="P1D",
        start_date="2025-03-30T00:00",
        filters=only(operator),
    )
    assert in_utc["rows"] == [["2025-03-30T00:00+00:00", round((24 + 12) / 24, 4), -1]]
    hourly = await ask(
        lenient,
        auditor,
        interval="PT1H",
        start_date="2025-03-30T00:00",
        end_date="2025-03-30T23:00",
        **local,
    )
    starts = [row[0] for row in hourly["rows"]]
    assert len(starts) == 23
    assert starts[:3] == [
        "2025-03-30T00:00+01:00",
        "2025-03-30T01:00+01:00",
        "2025-03-30T03:00+02:00",
    ]
    assert hourly["rows"][0][2] == 1


async def test_numeric_timestamps_come_back_numeric(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    auditor = await tenant(Role.CITY_AUDITOR)
    start = int(HOUR.timestamp() * 1000)
    body = await ask(client, auditor, start_date=start, end_date=start + 3_600_000)
    assert [row[0] for row in body["rows"]] == [start, start + 3_600_000]
    assert body["query"]["timezone"] == "UTC"
    assert body["query"]["end_date"] == start + 3_600_000


async def test_operators_see_their_own_provider_only(
    lenient: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    mine, theirs = await tenant(), await tenant()
    for owner in (mine, theirs):
        device = await add_vehicle(session, owner.provider_id)
        await add_trip(session, owner.provider_id, device, HOUR)
    manager = await tenant(Role.OPERATOR_MANAGER, provider_id=mine.provider_id)
    own = await ask(lenient, manager, dimensions=["provider_id"])
    assert own["rows"] == [["2025-03-10T10:00+00:00", str(mine.provider_id), 1]]
    other = await ask(lenient, manager, filters=only(theirs))
    assert other["rows"] == [["2025-03-10T10:00+00:00", -1]]
    planner = await tenant(Role.CITY_PLANNER)
    both = [{"name": "provider_id", "values": [str(mine.provider_id), str(theirs.provider_id)]}]
    city = await ask(lenient, planner, dimensions=["provider_id"], filters=both)
    assert len(city["rows"]) == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"measures": ["vehicles.flying.avg"]}, "measures"),
        ({"measures": []}, "measures"),
        ({"interval": "PT15M"}, "interval"),
        ({"end_date": "2025-03-10T09:00"}, "end_date"),
        ({"dimensions": ["census_block"]}, "dimensions"),
        ({"filters": [{"name": "geography_type", "values": ["census_block"]}]}, "filters"),
        ({"start_date": "2025-03-10T10:15"}, "start_date"),
        ({"start_date": "10 March"}, "start_date"),
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"interval": "PT1H", "end_date": "2025-05-10T10:00"}, "end_date"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_bad_requests_are_400_with_an_mds_error(
    client: AsyncClient, tenant: TenantFactory, change: dict[str, Any], field: str
) -> None:
    auditor = await tenant(Role.CITY_AUDITOR)
    response = await client.post(METRICS, headers=auditor.headers, json=metrics_query(**change))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == MDS_ACCEPT
    body = response.json()
    assert set(body) == {"error", "error_description", "error_details"}
    assert body["error"] == "bad_param"
    assert field in body["error_details"]
    admin = await tenant(Role.ADMIN)
    log = (await client.get("/v1/audit-log", headers=admin.headers)).json()
    assert [e for e in log if e["key_id"] == auditor.key_id] == []


async def test_too_many_rows_is_400(lenient: AsyncClient, tenant: TenantFactory) -> None:
    auditor = await tenant(Role.CITY_AUDITOR)
    response = await lenient.post(
        METRICS, headers=auditor.headers, json=metrics_query(end_date="2025-03-12T10:00")
    )
    assert response.status_code == 400
    assert "more than 30" in response.json()["error_description"]


async def test_queries_are_audited_with_their_parameters(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    auditor = await tenant(Role.CITY_AUDITOR)
    body = await ask(client, auditor, end_date="2025-03-10T12:00")
    assert len(body["rows"]) == 3
    uuid.UUID(body["id"])
    admin = await tenant(Role.ADMIN)
    log = (await client.get("/v1/audit-log", headers=admin.headers)).json()
    [entry] = [e for e in log if e["key_id"] == auditor.key_id]
    assert entry["action"] == "mds_metrics.query"
    assert entry["rows"] == 3
    assert entry["params"] == body["query"]
    assert entry["params"]["k_value"] == 10
