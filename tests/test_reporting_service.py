"""The reporting service's contract with a real session and a clock of the test's own:
an hour or month is read and audited only once it is served as settled; a read refused
or not yet due reads and records nothing."""

import csv
import io
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auditor_reads import read_rules, reader_of
from app.core.auth import ROLE_SCOPES, Mode, Principal, Role
from app.core.errors import Forbidden, InvalidInput, NotFound
from fleet.exports.request import Dataset, Format, Privacy
from fleet.reporting.models import AuditEntry
from fleet.reporting.service import TRIPS, AuditorReads
from tests.conftest import TenantFactory
from tests.rows import add_trip, add_vehicle

HOUR = datetime(2026, 3, 10, 10, tzinfo=UTC)
HOUR_END = HOUR + timedelta(hours=1)
LATE = timedelta(minutes=15)
TICK = timedelta(microseconds=1)
# February 2026 in Stockholm (UTC+1) ends at 23:00 UTC on the 28th.
FEBRUARY_END = datetime(2026, 2, 28, 23, tzinfo=UTC)
AUDITOR = Principal("svc-auditor", Role.CITY_AUDITOR, ROLE_SCOPES[Role.CITY_AUDITOR], None, None)


def operator(provider_id: uuid.UUID) -> Principal:
    role = Role.OPERATOR_MANAGER
    return Principal("svc-operator", role, ROLE_SCOPES[role], provider_id, Mode.MICROMOBILITY)


def reads_at(
    app: FastAPI, session: AsyncSession, now: datetime, who: Principal = AUDITOR
) -> AuditorReads:
    """The reads of `who` with the clock stopped at `now` and 15 minutes' lateness."""
    rules = replace(read_rules(app.state.settings), hour_lateness=LATE)
    return AuditorReads(
        session,
        reader=reader_of(who),
        rules=rules,
        streams=app.state.resources.sessionmaker,
        clock=lambda: now,
    )


async def fleet_of(tenant: TenantFactory, session: AsyncSession) -> tuple[uuid.UUID, uuid.UUID]:
    """A provider with one registered vehicle: (provider_id, device_id)."""
    provider_id = (await tenant(Role.OPERATOR_MANAGER)).provider_id
    assert provider_id is not None
    return provider_id, await add_vehicle(session, provider_id)


async def trip_ending(
    session: AsyncSession, fleet: tuple[uuid.UUID, uuid.UUID], at: datetime
) -> str:
    return str((await add_trip(session, *fleet, end_at=at)).trip_id)


async def entries(session: AsyncSession, who: Principal) -> list[tuple[str, object, int]]:
    query = select(AuditEntry).where(AuditEntry.key_id == who.key_id)
    found = (await session.execute(query.order_by(AuditEntry.entry_id))).scalars()
    return [(e.action, e.params, e.rows) for e in found]


async def test_an_hour_is_read_and_audited_once_it_is_served_as_settled(
    app: FastAPI, session: AsyncSession, tenant: TenantFactory
) -> None:
    fleet = await fleet_of(tenant, session)
    provider = fleet[0]
    trip_id = await trip_ending(session, fleet, HOUR + timedelta(minutes=30))
    with pytest.raises(NotFound):
        await reads_at(app, session, HOUR_END - TICK).hour(TRIPS, "2026-03-10T10", provider)
    settling = await reads_at(app, session, HOUR_END + LATE - TICK).hour(
        TRIPS, "2026-03-10T10", provider
    )
    assert (settling.settled, settling.records) == (False, [])
    assert await entries(session, AUDITOR) == []
    served = await reads_at(app, session, HOUR_END + LATE).hour(TRIPS, "2026-03-10T10", provider)
    assert served.settled
    assert [r["trip_id"] for r in served.records] == [trip_id]
    params = {"end_time": "2026-03-10T10", "provider_id": str(provider)}
    assert await entries(session, AUDITOR) == [("mds_provider.trips", params, 1)]


@pytest.mark.parametrize("value", [None, "2026-03-10", "2026-03-10T10:00", "2026-02-30T10"])
async def test_a_missing_or_malformed_hour_is_refused_unrecorded(
    app: FastAPI, session: AsyncSession, value: str | None
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await reads_at(app, session, HOUR_END + LATE).hour(TRIPS, value, None)
    assert refused.value.fields == ("end_time",)
    assert await entries(session, AUDITOR) == []


async def test_an_operator_reads_and_is_audited_for_its_own_provider_only(
    app: FastAPI, session: AsyncSession, tenant: TenantFactory
) -> None:
    own, theirs = await fleet_of(tenant, session), await fleet_of(tenant, session)
    mine = await trip_ending(session, own, HOUR + timedelta(minutes=5))
    await trip_ending(session, theirs, HOUR + timedelta(minutes=6))
    other = theirs[0]
    who = operator(own[0])
    reads = reads_at(app, session, HOUR_END + LATE, who)
    assert (await reads.hour(TRIPS, "2026-03-10T10", other)).records == []
    served = await reads.hour(TRIPS, "2026-03-10T10", None)
    assert [r["trip_id"] for r in served.records] == [mine]
    assert await entries(session, who) == [
        ("mds_provider.trips", {"end_time": "2026-03-10T10", "provider_id": str(other)}, 0),
        ("mds_provider.trips", {"end_time": "2026-03-10T10", "provider_id": None}, 1),
    ]


async def test_a_month_is_reported_once_it_is_served_as_settled(
    app: FastAPI, session: AsyncSession, tenant: TenantFactory
) -> None:
    fleet = await fleet_of(tenant, session)
    provider = fleet[0]
    await trip_ending(session, fleet, datetime(2026, 2, 14, 12, tzinfo=UTC))
    with pytest.raises(NotFound):
        await reads_at(app, session, FEBRUARY_END + LATE - TICK).monthly_report(
            "2026-02.csv", provider
        )
    assert await entries(session, AUDITOR) == []
    rows = await reads_at(app, session, FEBRUARY_END + LATE).monthly_report("2026-02.csv", provider)
    assert rows
    params = {"month": "2026-02", "provider_id": str(provider)}
    assert await entries(session, AUDITOR) == [("mds_provider.reports", params, len(rows))]


@pytest.mark.parametrize("filename", ["2026-02", "2026-02.json", "2026-2.csv", "1969-12.csv"])
async def test_a_malformed_report_name_is_refused_unrecorded(
    app: FastAPI, session: AsyncSession, filename: str
) -> None:
    with pytest.raises(InvalidInput):
        await reads_at(app, session, FEBRUARY_END + LATE).monthly_report(filename, None)
    assert await entries(session, AUDITOR) == []


async def test_an_export_is_audited_with_the_rows_streamed_when_its_stream_ends(
    app: FastAPI, session: AsyncSession, tenant: TenantFactory
) -> None:
    fleet = await fleet_of(tenant, session)
    provider = fleet[0]
    for minute in (10, 20, 30):
        await trip_ending(session, fleet, HOUR + timedelta(minutes=minute))
    export = await reads_at(app, session, HOUR_END + LATE).export(
        Dataset.TRIPS,
        start=HOUR.isoformat(),
        end=HOUR_END.isoformat(),
        provider_id=provider,
        format=Format.CSV,
        privacy=Privacy.RAW,
    )
    # Checked, not yet streamed: nothing has left, nothing is recorded.
    assert await entries(session, AUDITOR) == []
    body = b"".join([chunk async for chunk in export.body]).decode()
    assert len(list(csv.DictReader(io.StringIO(body)))) == 3
    params = {
        "from": HOUR.isoformat(),
        "to": HOUR_END.isoformat(),
        "provider_id": str(provider),
        "format": "csv",
        "privacy": "raw",
    }
    assert await entries(session, AUDITOR) == [("exports.trips", params, 3)]


async def test_a_raw_export_is_refused_to_an_operator_unrecorded(
    app: FastAPI, session: AsyncSession
) -> None:
    provider = uuid.uuid4()
    who = operator(provider)
    with pytest.raises(Forbidden):
        await reads_at(app, session, HOUR_END, who).export(
            Dataset.TRIPS,
            start=HOUR.isoformat(),
            end=HOUR_END.isoformat(),
            provider_id=None,
            format=Format.CSV,
            privacy=Privacy.RAW,
        )
    assert await entries(session, who) == []
