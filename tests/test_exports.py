"""Exports: formats, windows, tenancy, rights, bad input, audit, streams cut short."""

import io
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auditor_reads import export_options
from app.core.auth import Principal, Role
from fleet.exports.request import Dataset, ExportRequest, Format, Privacy
from fleet.reporting.models import AuditEntry
from fleet.reporting.service import export_stream
from tests.conftest import Tenant, TenantFactory
from tests.exports import EXPORTS, T0, csv_rows, pull, utc
from tests.rows import DESTINATION, ORIGIN, add_event, add_trip, add_vehicle


async def audit_of(session: AsyncSession, who: Tenant | str) -> list[AuditEntry]:
    """Export pulls audited for a key, oldest first."""
    key_id = who if isinstance(who, str) else who.key_id
    query = select(AuditEntry).where(
        AuditEntry.key_id == key_id, AuditEntry.action.like("exports.%")
    )
    return list((await session.execute(query.order_by(AuditEntry.entry_id))).scalars())


async def test_raw_trips_parse_back_from_every_format(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    auditor = await tenant(Role.CITY_AUDITOR)
    first, second = await tenant(Role.OPERATOR_MANAGER), await tenant(Role.OPERATOR_MANAGER)
    bike = await add_vehicle(session, first.provider_id, "bicycle")
    moped = await add_vehicle(session, second.provider_id, "moped")
    expected = [
        await add_trip(session, first.provider_id, bike, end_at=T0 + timedelta(minutes=5)),
        await add_trip(
            session, second.provider_id, moped, end_at=T0 + timedelta(minutes=7, seconds=0.25)
        ),
        await add_trip(session, first.provider_id, bike, end_at=T0 + timedelta(minutes=40)),
    ]
    await add_trip(session, first.provider_id, bike, end_at=T0 + timedelta(hours=2))
    await add_trip(session, first.provider_id, bike, end_at=T0, status="cancelled")
    unlocated = await add_trip(session, first.provider_id, bike, end_at=T0)
    unlocated.end_lat = unlocated.end_lng = None
    await session.flush()
    types = {bike: "bicycle", moped: "moped"}

    rows = csv_rows(await pull(client, auditor, privacy="raw"))
    assert rows == [
        {
            "provider_id": str(t.provider_id),
            "device_id": str(t.device_id),
            "trip_id": str(t.trip_id),
            "vehicle_type": types[t.device_id],
            "start_time": utc(t.start_at or T0),
            "end_time": utc(t.end_at or T0),
            "start_lat": "56.04651",
            "start_lng": "12.69453",
            "end_lat": "56.05127",
            "end_lng": "12.70118",
            "duration_s": "629",
            "distance_m": "1849",
            "parking_category": "rack",
        }
        for t in expected
    ]
    assert rows[1]["end_time"] == "2026-03-02T08:07:00.250Z"

    geojson = await pull(client, auditor, privacy="raw", format="geojson")
    assert geojson.status_code == 200, geojson.text
    assert geojson.headers["content-type"] == "application/geo+json"
    collection = orjson.loads(geojson.content)
    assert collection["type"] == "FeatureCollection"
    features = collection["features"]
    assert [f["properties"]["trip_id"] for f in features] == [r["trip_id"] for r in rows]
    assert features[0]["geometry"] == {
        "type": "LineString",
        "coordinates": [[12.69453, 56.04651], [12.70118, 56.05127]],
    }
    assert features[1]["properties"]["end_time"] == "2026-03-02T08:07:00.250Z"
    assert "start_lat" not in features[0]["properties"]

    parquet = await pull(client, auditor, privacy="raw", format="parquet")
    assert parquet.status_code == 200, parquet.text
    assert parquet.headers["content-type"] == "application/vnd.apache.parquet"
    assert parquet.headers["content-disposition"] == (
        'attachment; filename="trips_20260302T080000Z_20260302T090000Z.parquet"'
    )
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.schema.field("end_time").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("duration_s").type == pa.int64()
    records = table.to_pylist()
    assert [r["trip_id"] for r in records] == [r["trip_id"] for r in rows]
    assert records[1]["end_time"] == T0 + timedelta(minutes=7, seconds=0.25)
    assert records[0]["start_lat"] == ORIGIN[0]
    assert records[0]["vehicle_type"] == "bicycle"


async def test_the_window_includes_from_and_excludes_to(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    auditor, operator = await tenant(Role.CITY_AUDITOR), await tenant(Role.OPERATOR_MANAGER)
    provider = operator.provider_id
    device = await add_vehicle(session, provider)
    end = T0 + timedelta(hours=1)
    milli = timedelta(milliseconds=1)
    for at in (T0 - milli, T0, end - milli, end):
        await add_trip(session, provider, device, end_at=at)
    rows = csv_rows(await pull(client, auditor, privacy="raw", start=T0, end=end))
    assert [r["end_time"] for r in rows] == [utc(T0), utc(end - milli)]


async def test_an_export_across_the_autumn_clock_change_has_the_right_utc_rows(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    # Stockholm leaves summer time at 01:00 UTC on 2026-10-25: local 02:00-03:00 runs twice.
    auditor, operator = await tenant(Role.CITY_AUDITOR), await tenant(Role.OPERATOR_MANAGER)
    provider = operator.provider_id
    device = await add_vehicle(session, provider)
    day = datetime(2026, 10, 25, tzinfo=UTC)
    milli = timedelta(milliseconds=1)
    ends = [
        day - milli,
        day + timedelta(minutes=30),  # 02:30 CEST
        day + timedelta(hours=1) - milli,
        day + timedelta(hours=1),  # 02:00 CET, the second time
        day + timedelta(hours=1, minutes=30),  # 02:30 CET, the second 02:30
        day + timedelta(hours=4) - milli,
        day + timedelta(hours=4),
    ]
    for at in ends:
        await add_trip(session, provider, device, end_at=at)
    response = await pull(
        client,
        auditor,
        privacy="raw",
        start="2026-10-25T02:00:00+02:00",
        end="2026-10-25T05:00:00+01:00",
    )
    assert [r["end_time"] for r in csv_rows(response)] == [
        "2026-10-25T00:30:00.000Z",
        "2026-10-25T00:59:59.999Z",
        "2026-10-25T01:00:00.000Z",
        "2026-10-25T01:30:00.000Z",
        "2026-10-25T03:59:59.999Z",
    ]
    parquet = await pull(
        client,
        auditor,
        privacy="raw",
        format="parquet",
        start="2026-10-25T02:00:00+02:00",
        end="2026-10-25T05:00:00+01:00",
    )
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.column("end_time").to_pylist() == ends[1:-1]


async def test_operators_export_their_own_provider_only(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    mine, theirs = await tenant(Role.OPERATOR_MANAGER), await tenant(Role.OPERATOR_MANAGER)
    for who in (mine, theirs):
        device = await add_vehicle(session, who.provider_id)
        for minutes in (10, 20, 30, 40, 50):
            await add_trip(session, who.provider_id, device, end_at=T0 + timedelta(minutes=minutes))
        await add_event(session, who.provider_id, device, at=T0 + timedelta(minutes=5))
    rows = csv_rows(await pull(client, mine))
    assert len(rows) == 5
    assert {r["provider_id"] for r in rows} == {str(mine.provider_id)}
    assert len(csv_rows(await pull(client, mine, provider_id=mine.provider_id))) == 5
    events = csv_rows(await pull(client, mine, "events"))
    assert [r["provider_id"] for r in events] == [str(mine.provider_id)]

    for dataset in ("trips", "events", "vehicle-status"):
        other = await pull(client, mine, dataset, provider_id=theirs.provider_id)
        assert other.status_code == 404, other.text
        assert other.headers["content-type"] == "application/problem+json"
        assert str(theirs.provider_id) in other.json()["detail"]

    auditor = await tenant(Role.CITY_AUDITOR)
    narrowed = csv_rows(await pull(client, auditor, privacy="raw", provider_id=theirs.provider_id))
    assert {r["provider_id"] for r in narrowed} == {str(theirs.provider_id)}
    assert len(narrowed) == 5
    unknown = await pull(client, auditor, provider_id=uuid.uuid4())
    assert unknown.status_code == 404
    # Refused pulls are not audited: nothing was sent.
    assert [e.rows for e in await audit_of(session, mine)] == [5, 5, 1]


async def test_raw_data_is_for_auditors_and_gateways_get_nothing(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    manager = await tenant(Role.OPERATOR_MANAGER)
    agent = await tenant(Role.FIELD_AGENT, provider_id=manager.provider_id)
    planner = await tenant(Role.CITY_PLANNER)
    gateway = await tenant(Role.GATEWAY, provider_id=manager.provider_id)
    auditor, admin = await tenant(Role.CITY_AUDITOR), await tenant(Role.ADMIN)
    for who in (manager, agent, planner):
        refused = await pull(client, who, privacy="raw")
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert (await pull(client, who)).status_code == 200
    for privacy in ("raw", "open"):
        assert (await pull(client, gateway, "events", privacy=privacy)).status_code == 403
    for who in (auditor, admin):
        assert (await pull(client, who, privacy="raw")).status_code == 200
    anonymous = await client.get(f"{EXPORTS}/trips", params={"from": "x", "to": "y"})
    assert anonymous.status_code == 401
    assert [e.rows for e in await audit_of(session, manager)] == [0]
    assert await audit_of(session, gateway) == []


def _later(days: int) -> str:
    return (T0 + timedelta(days=days)).isoformat()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"to": T0.isoformat()}, "from"),
        ({"from": T0.isoformat()}, "to"),
        ({"from": T0.isoformat(), "to": T0.isoformat()}, "to"),
        ({"from": T0.isoformat(), "to": _later(-1)}, "to"),
        ({"from": T0.isoformat(), "to": _later(367)}, "from"),
        ({"from": "2026-03-02T08:00:00", "to": _later(1)}, "from"),
        ({"from": "2026-03-02", "to": _later(1)}, "from"),
        ({"from": T0.isoformat(), "to": "tomorrow"}, "to"),
        ({"from": "2026-03-02T08:00:00 01:00", "to": _later(1)}, "from"),
        ({"from": T0.isoformat(), "to": _later(1), "format": "xlsx"}, "format"),
        ({"from": T0.isoformat(), "to": _later(1), "privacy": "secret"}, "privacy"),
        ({"from": T0.isoformat(), "to": _later(1), "provider_id": "acme"}, "provider_id"),
    ],
)
async def test_bad_parameters_are_refused_before_anything_is_sent(
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    params: dict[str, str],
    field: str,
) -> None:
    auditor = await tenant(Role.CITY_AUDITOR)
    response = await client.get(f"{EXPORTS}/events", headers=auditor.headers, params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert field in problem["detail"]
    assert await audit_of(session, auditor) == []


async def test_a_window_of_366_days_is_allowed_and_empty_exports_parse(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    auditor = await tenant(Role.CITY_AUDITOR)
    end = T0 + timedelta(days=366)
    response = await pull(client, auditor, end=end)
    assert response.status_code == 200
    assert response.text.count("\n") == 1  # the header alone
    geojson = await pull(client, auditor, "events", end=end, format="geojson")
    assert orjson.loads(geojson.content) == {"type": "FeatureCollection", "features": []}
    parquet = await pull(client, auditor, "vehicle-status", end=end, format="parquet")
    assert pq.read_table(io.BytesIO(parquet.content)).num_rows == 0


async def test_every_pull_is_audited_with_its_rows(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    auditor = await tenant(Role.CITY_AUDITOR)
    operator = await tenant(Role.OPERATOR_MANAGER)
    device = await add_vehicle(session, operator.provider_id)
    for minutes in range(3):
        await add_trip(
            session, operator.provider_id, device, end_at=T0 + timedelta(minutes=minutes)
        )
        await add_event(session, operator.provider_id, device, at=T0 + timedelta(minutes=minutes))
    end = T0 + timedelta(hours=1)
    await pull(client, auditor, privacy="raw")
    await pull(client, auditor, "events", format="parquet", provider_id=operator.provider_id)
    await pull(client, auditor, "vehicle-status", format="geojson", privacy="raw")
    entries = await audit_of(session, auditor)
    assert [(e.action, e.rows, e.role) for e in entries] == [
        ("exports.trips", 3, "city_auditor"),
        ("exports.events", 3, "city_auditor"),
        ("exports.vehicle-status", 1, "city_auditor"),
    ]
    assert entries[1].params == {
        "from": T0.isoformat(),
        "to": end.isoformat(),
        "provider_id": str(operator.provider_id),
        "format": "parquet",
        "privacy": "open",
    }


async def test_raw_events_and_vehicle_status(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    auditor = await tenant(Role.CITY_AUDITOR)
    operator = await tenant(Role.OPERATOR_MANAGER)
    device = await add_vehicle(session, operator.provider_id, "scooter_standing")
    quiet = await add_vehicle(session, operator.provider_id)
    trip = uuid.uuid4()
    minute = timedelta(minutes=1)
    await add_event(session, operator.provider_id, device, at=T0 - minute)  # available before
    await add_event(session, operator.provider_id, quiet, at=T0 - minute)
    stored = [
        await add_event(session, operator.provider_id, device, at=T0, types=["battery_ok"]),
        await add_event(
            session,
            operator.provider_id,
            device,
            at=T0 + 2 * minute,
            state="on_trip",
            types=["trip_start"],
            trip_ids=[trip],
        ),
        await add_event(
            session,
            operator.provider_id,
            device,
            at=T0 + 9 * minute,
            types=["trip_end"],
            trip_ids=[trip],
            location=DESTINATION,
        ),
        await add_event(
            session,
            operator.provider_id,
            device,
            at=T0 + 20 * minute,
            state="non_operational",
            types=["battery_low"],
            location=None,
        ),
        await add_event(session, operator.provider_id, quiet, at=T0 + 30 * minute),
    ]
    events = csv_rows(await pull(client, auditor, "events", privacy="raw"))
    assert [r["event_id"] for r in events] == [str(e.event_id) for e in stored]
    assert events[1] == {
        "provider_id": str(operator.provider_id),
        "device_id": str(device),
        "event_id": str(stored[1].event_id),
        "event_types": "trip_start",
        "vehicle_state": "on_trip",
        "occurred_at": utc(T0 + 2 * minute),
        "lat": str(ORIGIN[0]),
        "lng": str(ORIGIN[1]),
    }
    assert (events[3]["lat"], events[3]["lng"]) == ("", "")
    parquet = await pull(client, auditor, "events", privacy="raw", format="parquet")
    assert pq.read_table(io.BytesIO(parquet.content)).column("event_types").to_pylist()[1] == [
        "trip_start"
    ]

    # A state change is an event whose state differs from the vehicle's previous event
    # (looked up before the window too); the quiet vehicle never changed state.
    status = csv_rows(await pull(client, auditor, "vehicle-status", privacy="raw"))
    assert status == [
        {
            "provider_id": str(operator.provider_id),
            "device_id": str(device),
            "vehicle_type": "scooter_standing",
            "vehicle_state": state,
            "state_start": utc(start),
            "state_end": utc(end) if end else "",
            "lat": lat,
            "lng": lng,
        }
        for state, start, end, lat, lng in [
            ("on_trip", T0 + 2 * minute, T0 + 9 * minute, str(ORIGIN[0]), str(ORIGIN[1])),
            (
                "available",
                T0 + 9 * minute,
                T0 + 20 * minute,
                str(DESTINATION[0]),
                str(DESTINATION[1]),
            ),
            ("non_operational", T0 + 20 * minute, None, "", ""),
        ]
    ]
    geojson = orjson.loads(
        (await pull(client, auditor, "vehicle-status", format="geojson")).content
    )
    geometries = {f["properties"]["vehicle_state"]: f["geometry"] for f in geojson["features"]}
    assert geometries["on_trip"] is None  # withheld in open exports
    assert geometries["available"]["type"] == "Point"


async def _drain(app: FastAPI, request: ExportRequest, chunks: int, **options: Any) -> list[bytes]:
    """Take `chunks` chunks of an export stream, then close it."""
    who = Principal("early", Role.CITY_AUDITOR, frozenset(), None, None)
    settings = replace(export_options(app.state.settings), **options)
    stream = export_stream(
        app.state.resources.sessionmaker, request=request, principal=who, options=settings
    )
    taken = [await anext(stream) for _ in range(chunks)]
    await stream.aclose()
    return taken


async def test_a_stream_cut_short_is_audited_with_the_rows_handed_on(
    app: FastAPI, session: AsyncSession
) -> None:
    provider = uuid.uuid4()
    await session.execute(
        text(
            "INSERT INTO trips (trip_id, provider_id, device_id, status, start_at, start_lat,"
            " start_lng, end_at, end_lat, end_lng, duration_s, distance_m)"
            " SELECT gen_random_uuid(), :p, gen_random_uuid(), 'closed', CAST(:t AS timestamptz),"
            " 56.04, 12.69, CAST(:t AS timestamptz) + i * interval '1 ms', 56.05, 12.70, 60, 100"
            " FROM generate_series(1, 20000) i"
        ),
        {"p": provider, "t": T0},
    )
    request = ExportRequest(
        Dataset.TRIPS, T0, T0 + timedelta(hours=1), (provider,), Format.CSV, Privacy.RAW
    )
    taken = await _drain(app, request, 2, copy_queue_chunks=2)
    handed_on = b"".join(taken).count(b"\n") - 1
    parquet = replace(request, format=Format.PARQUET)
    await _drain(app, parquet, 1, fetch_rows=1000, parquet_group_rows=3000)
    # The COPY was cancelled, yet the session and its connection work on.
    assert (
        await session.scalar(
            text("SELECT count(*) FROM trips WHERE provider_id = :p"), {"p": provider}
        )
        == 20000
    )
    entries = await audit_of(session, "early")
    assert [(e.action, e.rows) for e in entries] == [
        ("exports.trips", handed_on),
        ("exports.trips", 3000),
    ]
    assert 0 < handed_on < 20000
