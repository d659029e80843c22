"""Open exports: the SQL applies the rules of fleet.exports.anonymise exactly, k-anonymity
of trips, withheld positions on trips, rotating pseudonyms, no raw value anywhere."""

import csv
import io
import math
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import get_args

import orjson
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.auditor_reads import export_options
from app.core.auth import Principal, Role
from app.core.mds import VehicleState
from app.main import create_app
from app.settings import AuthSettings, ExportSettings
from fleet.exports.anonymise import (
    COARSE,
    DISTANCE_STEP_M,
    DURATION_STEP_S,
    FINE,
    Release,
    bin_time,
    hmac_pads,
    od_releases,
    position_hidden,
    pseudonym,
    round_half_up,
    sql_bin_time,
    sql_hmac,
    sql_part,
    sql_position_hidden,
    sql_round_half_up,
    trip_segments,
)
from fleet.exports.request import Dataset, ExportRequest, Format, Privacy
from fleet.reporting.service import export_stream
from fleet.trips.models import Trip
from tests.conftest import Tenant, TenantFactory, bound_to, make_settings
from tests.exports import T0, csv_rows, pull, utc
from tests.rows import add_event, add_trip, add_vehicle

RNG = random.Random(20261025)


def _edges(centre: float, step: float) -> list[float]:
    """Values on and next to cell boundaries around `centre`."""
    values = []
    for i in range(-3, 4):
        edge = math.floor(centre / step + i) * step
        values += [edge, math.nextafter(edge, -math.inf), math.nextafter(edge, math.inf)]
    return values


async def test_sql_cells_agree_with_python(session: AsyncSession) -> None:
    lats = _edges(56.05, 0.001) + _edges(-0.0005, 0.001) + [0.0, -33.8688, 56.0465]
    lats += [RNG.uniform(-89, 89) for _ in range(300)]
    lngs = [RNG.uniform(-179, 179) for _ in range(len(lats))]
    lngs[: len(lats) // 2] = (_edges(12.69, 0.002) * 20)[: len(lats) // 2]
    row, col = FINE.sql_cell("x.lat", "x.lng")
    fine_lat, fine_lng = FINE.sql_centre(row, col)
    c_row, c_col = FINE.sql_coarsen(row, col, COARSE)
    coarse_lat, coarse_lng = COARSE.sql_centre(c_row, c_col)
    query = text(
        f"SELECT {row}, {col}, {fine_lat}, {fine_lng}, {coarse_lat}, {coarse_lng}"  # noqa: S608
        " FROM unnest(CAST(:lats AS float8[]), CAST(:lngs AS float8[])) AS x(lat, lng)"
    )
    found = (await session.execute(query, {"lats": lats, "lngs": lngs})).all()
    for (lat, lng), (r, c, f_lat, f_lng, k_lat, k_lng) in zip(
        zip(lats, lngs, strict=True), found, strict=True
    ):
        cell = FINE.cell(lat, lng)
        assert (int(r), int(c)) == cell, (lat, lng)
        assert (f_lat, f_lng) == FINE.centre(cell)
        assert (k_lat, k_lng) == COARSE.centre(FINE.coarsen(cell, COARSE))


async def test_sql_times_rounding_and_hmacs_agree_with_python(session: AsyncSession) -> None:
    quarter = datetime(2026, 10, 25, 1, 15, tzinfo=UTC)
    micro = timedelta(microseconds=1)
    times = [quarter, quarter - micro, quarter + micro, datetime(1999, 12, 31, 23, 59, tzinfo=UTC)]
    times += [T0 + timedelta(microseconds=RNG.randrange(10**12)) for _ in range(200)]
    binned = await session.scalars(
        text(f"SELECT {sql_bin_time('x.t')} FROM unnest(CAST(:ts AS timestamptz[])) AS x(t)"),  # noqa: S608
        {"ts": times},
    )
    assert list(binned) == [bin_time(t) for t in times]

    values = list(range(-130, 131)) + [RNG.randrange(10**7) for _ in range(200)]
    for step in (DURATION_STEP_S, DISTANCE_STEP_M):
        rounded = await session.scalars(
            text(f"SELECT {sql_round_half_up('x.v', step)} FROM unnest(CAST(:vs AS int[])) x(v)"),  # noqa: S608
            {"vs": values},
        )
        assert list(rounded) == [round_half_up(v, step) for v in values]

    ids = [str(uuid.uuid4()) for _ in range(20)] + ["", "é:ü", "x" * 500]
    for salt in (b"", b"city", b"k" * 64, b"a long salt " * 10):
        inner, outer = hmac_pads(salt)
        mac = sql_hmac("trips.trip_id", "x.v", "CAST(:i AS bytea)", "CAST(:o AS bytea)")
        query = text(
            f"SELECT {sql_part(mac, 0)}, {sql_part(mac, 1)}"  # noqa: S608
            " FROM unnest(CAST(:vs AS text[])) AS x(v)"
        )
        rows = (await session.execute(query, {"vs": ids, "i": inner, "o": outer})).all()
        assert [tuple(r) for r in rows] == [
            (pseudonym(salt, "trips.trip_id", v), pseudonym(salt, "trips.trip_id", v, part=1))
            for v in ids
        ]


async def test_sql_withholds_positions_in_the_same_states(session: AsyncSession) -> None:
    states = list(get_args(VehicleState))
    hidden = await session.scalars(
        text(
            f"SELECT {sql_position_hidden('x.s')}"  # noqa: S608
            " FROM unnest(CAST(:states AS text[])) AS x(s)"
        ),
        {"states": states},
    )
    assert list(hidden) == [position_hidden(s) for s in states]
    assert sum(position_hidden(s) for s in states) == 2


def _in(cell: tuple[int, int]) -> tuple[float, float]:
    """A random raw position inside a fine cell, with many decimals."""
    return (
        (cell[0] + RNG.uniform(0.05, 0.95)) / FINE.lat_steps,
        (cell[1] + RNG.uniform(0.05, 0.95)) / FINE.lng_steps,
    )


A, B = (56046, 6347), (56051, 6350)
A2, B2 = (56041, 6341), (56059, 6359)  # fine cells of A's and B's coarse cells
C, D = (56020, 6330), (56075, 6362)
C2, D2 = (56028, 6338), (56071, 6365)  # fine cells of C's and D's coarse cells
FAR = ((55600, 6400), (55610, 6410))


async def _trips(session: AsyncSession, provider: uuid.UUID | None) -> list[Trip]:
    device = await add_vehicle(session, provider)
    pairs = [(A, B)] * 5 + [(A2, B2)]  # one trip near a busy pair: not hidden among them
    pairs += [(C, D)] * 3 + [(C2, D2)] * 2 + [FAR]  # five generalised together, one alone
    trips = []
    for i, (start, end) in enumerate(pairs):
        at = T0 + timedelta(minutes=3 * i + 1, seconds=17, milliseconds=123)
        trips.append(
            await add_trip(
                session,
                provider,
                device,
                end_at=at,
                start=_in(start),
                end=_in(end),
                duration_s=RNG.randrange(60, 3000),
                distance_m=RNG.randrange(50, 9000),
            )
        )
    return trips


def _no_raw_values(body: str, trips: list[Trip]) -> None:
    for trip in trips:
        for raw in (str(trip.trip_id), str(trip.device_id), utc(trip.end_at or T0)):
            assert raw not in body
        for coordinate in (trip.start_lat, trip.start_lng, trip.end_lat, trip.end_lng):
            assert str(coordinate) not in body
            assert f"{coordinate:.5f}" not in body


async def test_open_trips_are_k_anonymous(
    app: FastAPI, client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    operator = await tenant(Role.OPERATOR_MANAGER)
    trips = await _trips(session, operator.provider_id)
    salt = export_options(app.state.settings).salt
    assert salt is not None
    fine = [
        (FINE.cell(t.start_lat or 0, t.start_lng or 0), FINE.cell(t.end_lat or 0, t.end_lng or 0))
        for t in trips
    ]
    releases = od_releases(fine, k=5)
    assert releases.count(Release.FINE) == 5
    assert releases.count(Release.COARSE) == 5

    def centre(cell: tuple[int, int], release: Release) -> tuple[str, str]:
        if release is Release.FINE:
            lat, lng = FINE.centre(cell)
        else:
            lat, lng = COARSE.centre(FINE.coarsen(cell, COARSE))
        return str(lat), str(lng)

    expected = sorted(
        (
            {
                "provider_id": str(operator.provider_id),
                "device_id": pseudonym(salt, "trips.trip_id", str(t.trip_id), part=1),
                "trip_id": pseudonym(salt, "trips.trip_id", str(t.trip_id)),
                "vehicle_type": "bicycle",
                "start_time": utc(bin_time(t.start_at or T0)),
                "end_time": utc(bin_time(t.end_at or T0)),
                "start_lat": centre(start, release)[0],
                "start_lng": centre(start, release)[1],
                "end_lat": centre(end, release)[0],
                "end_lng": centre(end, release)[1],
                "duration_s": str(round_half_up(t.duration_s or 0, 60)),
                "distance_m": str(round_half_up(t.distance_m or 0, 100)),
                "parking_category": "rack",
                "generalised": "false" if release is Release.FINE else "true",
            }
            for t, (start, end), release in zip(trips, fine, releases, strict=True)
            if release is not Release.SUPPRESSED
        ),
        key=lambda r: (r["end_time"], r["trip_id"]),
    )
    response = await pull(client, operator)
    assert csv_rows(response) == expected
    _no_raw_values(response.text, trips)
    generalised = [r for r in expected if r["generalised"] == "true"]
    assert {(r["start_lat"], r["start_lng"], r["end_lat"], r["end_lng"]) for r in generalised} == {
        ("56.025", "12.67", "56.075", "12.73")
    }


async def test_open_exports_are_deterministic_and_hold_no_raw_value(
    app: FastAPI, client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    operator = await tenant(Role.OPERATOR_MANAGER)
    trips = await _trips(session, operator.provider_id)
    for fmt in ("csv", "geojson", "parquet"):
        first = await pull(client, operator, format=fmt)
        second = await pull(client, operator, format=fmt)
        assert first.status_code == 200, first.text
        assert first.content == second.content
    geojson = orjson.loads((await pull(client, operator, format="geojson")).content)
    _no_raw_values(orjson.dumps(geojson).decode(), trips)
    table = pq.read_table(io.BytesIO((await pull(client, operator, format="parquet")).content))
    _no_raw_values(str(table.to_pylist()), trips)
    assert all(t.minute % 15 == 0 and t.second == 0 for t in table.column("end_time").to_pylist())

    who = Principal("salt-test", Role.CITY_AUDITOR, frozenset(), None, None)
    assert operator.provider_id is not None
    request = ExportRequest(
        Dataset.TRIPS,
        T0,
        T0 + timedelta(hours=1),
        (operator.provider_id,),
        Format.CSV,
        Privacy.OPEN,
    )

    async def ids(salt: bytes) -> set[str]:
        options = replace(export_options(app.state.settings), salt=salt)
        stream = export_stream(
            app.state.resources.sessionmaker, request=request, principal=who, options=options
        )
        body = b"".join([chunk async for chunk in stream]).decode()
        return {r["trip_id"] for r in csv.DictReader(io.StringIO(body))}

    assert len(await ids(b"one salt")) == 10
    assert (await ids(b"one salt")).isdisjoint(await ids(b"another salt"))


async def test_open_events_withhold_positions_on_trips_and_rotate_the_vehicle_pseudonym(
    app: FastAPI, client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    operator = await tenant(Role.OPERATOR_MANAGER)
    device = await add_vehicle(session, operator.provider_id)
    trip = uuid.uuid4()
    parked, dropped = _in(A), _in(B)
    minute = timedelta(minutes=1, seconds=7)
    steps = [
        ("available", ["provider_drop_off"], None, parked),
        ("on_trip", ["trip_start"], [trip], parked),
        ("on_trip", ["changed_geographies"], [trip], _in(C)),
        ("available", ["trip_end"], [trip], dropped),
        ("non_operational", ["battery_low"], None, dropped),
    ]
    stored = [
        await add_event(
            session,
            operator.provider_id,
            device,
            at=T0 + i * minute,
            state=state,
            types=types,
            trip_ids=trips,
            location=where,
        )
        for i, (state, types, trips, where) in enumerate(steps)
    ]
    salt = export_options(app.state.settings).salt
    assert salt is not None
    segments = trip_segments([e.trip_ids is not None for e in stored])
    assert segments == [0, 1, 2, 3, 3]
    response = await pull(client, operator, "events")
    rows = {r["event_id"]: r for r in csv_rows(response)}
    for event, segment in zip(stored, segments, strict=True):
        row = rows[pseudonym(salt, "events.event_id", str(event.event_id))]
        assert row["device_id"] == pseudonym(salt, "events.device_id", f"{device}:{segment}")
        assert row["occurred_at"] == utc(bin_time(event.occurred_at))
        location = event.record["location"]
        if event.vehicle_state == "on_trip":
            assert (row["lat"], row["lng"]) == ("", "")
        else:
            cell = FINE.cell(location["lat"], location["lng"])
            assert (row["lat"], row["lng"]) == tuple(str(v) for v in FINE.centre(cell))
    for raw in (str(device), str(trip), *(str(e.event_id) for e in stored)):
        assert raw not in response.text
    for lat, lng in (parked, dropped, _in(C)):
        assert str(lat) not in response.text
        assert str(lng) not in response.text

    status = csv_rows(await pull(client, operator, "vehicle-status"))
    by_state = {r["vehicle_state"]: r for r in status}
    assert set(by_state) == {"available", "on_trip", "non_operational"}
    assert len(status) == 4  # available, on trip, available again, non-operational
    assert (by_state["on_trip"]["lat"], by_state["on_trip"]["lng"]) == ("", "")
    assert by_state["on_trip"]["device_id"] == pseudonym(
        salt, "vehicle_status.device_id", f"{device}:1"
    )
    assert by_state["on_trip"]["state_end"] == utc(bin_time(T0 + 3 * minute))
    assert len({r["device_id"] for r in status}) == 3


@pytest.fixture
async def saltless_app(connection: AsyncConnection) -> AsyncIterator[FastAPI]:
    """An app with neither an export salt nor a JWT secret to derive one from."""
    settings = make_settings(auth=AuthSettings(jwt_secret=None, key_cache_ttl_s=0))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        with bound_to(app, connection):
            yield app


async def test_open_exports_need_a_salt(tenant: TenantFactory, saltless_app: FastAPI) -> None:
    auditor: Tenant = await tenant(Role.CITY_AUDITOR)
    async with AsyncClient(transport=ASGITransport(app=saltless_app), base_url="http://t") as http:
        refused = await pull(http, auditor)
        raw = await pull(http, auditor, privacy="raw")
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert "FLEETBED_EXPORTS__SALT" in refused.json()["detail"]
    assert raw.status_code == 200


def test_the_salt_is_configured_or_derived_from_the_jwt_secret() -> None:
    def salt_of(**overrides: object) -> bytes | None:
        return export_options(make_settings(**overrides)).salt

    signing = AuthSettings(jwt_secret=SecretStr("s" * 40))
    assert salt_of(exports=ExportSettings(salt=SecretStr("city-salt"))) == b"city-salt"
    derived = salt_of(auth=signing)
    assert derived is not None
    assert derived == salt_of(auth=signing)
    assert b"s" * 40 not in derived
    assert derived != salt_of(auth=AuthSettings(jwt_secret=SecretStr("t" * 40)))
    assert salt_of(auth=AuthSettings(jwt_secret=None)) is None
