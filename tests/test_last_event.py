"""The one "last event of a vehicle" query, against PostgreSQL: newest first, ties to the
later arrival, per provider, optionally before a time, and skipped when told so."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.events.latest import last_event_sql
from fleet.events.models import VehicleEvent

AT = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
LAST = text(
    last_event_sql(
        "vehicle_state",
        provider=":provider",
        device=":device",
        before="CAST(:before AS timestamptz)",
    )
)
LAST_IF = text(
    last_event_sql(
        "vehicle_state", provider=":provider", device=":device", only_if="CAST(:wanted AS boolean)"
    )
)


async def _store(
    session: AsyncSession, provider: uuid.UUID, device: uuid.UUID, at: datetime, state: str
) -> None:
    # One flush per event, so that arrival order (seq) is the order of the calls.
    session.add(
        VehicleEvent(
            event_id=uuid.uuid4(),
            device_id=device,
            provider_id=provider,
            occurred_at=at,
            vehicle_state=state,
            event_types=["battery_low"],
            record={},
        )
    )
    await session.flush()


async def _last(
    session: AsyncSession, provider: uuid.UUID, device: uuid.UUID, before: datetime | None = None
) -> str | None:
    params = {"provider": provider, "device": device, "before": before or AT + timedelta(days=1)}
    return (await session.execute(LAST, params)).scalar()


async def test_the_newest_event_wins_and_at_equal_times_the_later_arrival(
    session: AsyncSession,
) -> None:
    provider, device = uuid.uuid4(), uuid.uuid4()
    await _store(session, provider, device, AT + timedelta(minutes=5), "reserved")
    await _store(session, provider, device, AT + timedelta(minutes=9), "non_operational")
    await _store(session, provider, device, AT + timedelta(minutes=9), "available")
    # Arrives last but happened first: not the last event.
    await _store(session, provider, device, AT, "removed")
    assert await _last(session, provider, device) == "available"


async def test_before_a_time_excludes_it_and_all_later(session: AsyncSession) -> None:
    provider, device = uuid.uuid4(), uuid.uuid4()
    await _store(session, provider, device, AT, "available")
    await _store(session, provider, device, AT + timedelta(minutes=5), "reserved")
    assert await _last(session, provider, device, AT + timedelta(minutes=5)) == "available"
    assert await _last(session, provider, device, AT + timedelta(minutes=6)) == "reserved"
    assert await _last(session, provider, device, AT) is None


async def test_the_same_device_id_of_another_provider_is_another_vehicle(
    session: AsyncSession,
) -> None:
    mine, theirs, device = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await _store(session, mine, device, AT, "available")
    await _store(session, theirs, device, AT + timedelta(minutes=1), "on_trip")
    assert await _last(session, mine, device) == "available"
    assert await _last(session, theirs, device) == "on_trip"
    assert await _last(session, uuid.uuid4(), device) is None


async def test_the_lookup_is_skipped_when_its_condition_is_false(session: AsyncSession) -> None:
    provider, device = uuid.uuid4(), uuid.uuid4()
    await _store(session, provider, device, AT, "available")
    params = {"provider": provider, "device": device}
    assert (await session.execute(LAST_IF, {**params, "wanted": True})).scalar() == "available"
    assert (await session.execute(LAST_IF, {**params, "wanted": False})).scalar() is None
