"""Trips from events: opened by a start, closed by an end or a cancel, in any order.

The jurisdiction's view of a trip is its part inside the city: riding in through the
border (`trip_enter_jurisdiction`) starts it there, riding out (`trip_leave_jurisdiction`)
ends it there, and the trip records which of its ends lie on the border. A trip that
leaves and comes back under the same id is measured once, from its first start inside to
its last end inside.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.mstime import from_ms
from fleet.events.schema import Event
from fleet.trips.measure import ParkingCheck, measure_trip, refresh_figures
from fleet.trips.models import Trip
from fleet.trips.route import RouteLimits

ENTERS = "trip_enter_jurisdiction"
LEAVES = "trip_leave_jurisdiction"
STARTS = frozenset({"trip_start", "reservation_start", ENTERS})
ENDS = frozenset({"trip_end", LEAVES})
CANCELS = frozenset(
    {
        "trip_cancel",
        "reservation_cancel",
        "customer_cancellation",
        "passenger_cancellation",
        "provider_cancellation",
        "driver_cancellation",
    }
)


async def _record(
    session: AsyncSession, *, provider_id: uuid.UUID, event: Event, trip_id: str
) -> None:
    types = set(event["event_types"])
    location = event.get("location")
    at = from_ms(event["timestamp"])
    lat, lng = (location["lat"], location["lng"]) if location else (None, None)
    values: dict[str, object] = {
        "trip_id": uuid.UUID(trip_id),
        "provider_id": provider_id,
        "device_id": uuid.UUID(event["device_id"]),
        "status": "open",
    }
    if types & STARTS:
        values.update(start_at=at, start_lat=lat, start_lng=lng)
    if types & (ENDS | CANCELS):
        values.update(end_at=at, end_lat=lat, end_lng=lng)
        values["status"] = "cancelled" if types & CANCELS and not types & ENDS else "ending"
    border = {name: True for name in (ENTERS, LEAVES) if name in types}
    if border:
        values["details"] = {"jurisdiction": border}
    statement = insert(Trip).values(values)
    changes: dict[str, Any] = {
        k: statement.excluded[k] for k in values if k not in {"trip_id", "status"}
    }
    if "start_at" in values:
        # The earliest start wins (a reservation, then the trip itself).
        changes["start_at"] = func.least(Trip.start_at, statement.excluded.start_at)
    if "status" in values and values["status"] != "open":
        changes["status"] = statement.excluded.status
    if border:
        changes["details"] = Trip.details.op("||")(
            func.jsonb_build_object(
                "jurisdiction",
                func.coalesce(Trip.details["jurisdiction"], text("'{}'::jsonb")).op("||")(
                    statement.excluded.details["jurisdiction"]
                ),
            )
        )
    changes["updated_at"] = func.now()
    # Trip ids are chosen by providers: one naming another provider's trip changes nothing.
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[Trip.trip_id],
            set_=changes,
            where=Trip.provider_id == statement.excluded.provider_id,
        )
    )


async def apply_trip_events(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    events: Sequence[Event],
    parking: ParkingCheck,
    share: float,
    limits: RouteLimits = RouteLimits(),
) -> list[uuid.UUID]:
    """Open and close the trips the events name; returns the trips closed now.

    `share` is how far the operator's and fleetbed's figures may differ unflagged."""
    touched: set[uuid.UUID] = set()
    for event in sorted(events, key=lambda e: e["timestamp"]):
        if not set(event["event_types"]) & (STARTS | ENDS | CANCELS):
            continue
        for trip_id in event.get("trip_ids") or []:
            await _record(session, provider_id=provider_id, event=event, trip_id=trip_id)
            touched.add(uuid.UUID(trip_id))
    if not touched:
        return []
    due = (
        (
            await session.execute(
                select(Trip).where(
                    Trip.provider_id == provider_id,
                    Trip.trip_id.in_(touched),
                    Trip.status == "ending",
                    Trip.start_at.is_not(None),
                    Trip.end_at.is_not(None),
                )
            )
        )
        .scalars()
        .all()
    )
    for trip in due:
        await measure_trip(
            session, trip=trip, parking=parking, limits=limits, telemetry_required=False
        )
        refresh_figures(trip, share=share)
        trip.status = "closed"
    await session.flush()
    return [t.trip_id for t in due]


async def close_abandoned(session: AsyncSession, *, now: datetime, after_s: float) -> int:
    """Mark trips open longer than `after_s` without an end as abandoned; returns how many."""
    result = await session.execute(
        text(
            "UPDATE trips SET status = 'abandoned', updated_at = now() "
            "WHERE status = 'open' AND start_at < :cutoff"
        ),
        {"cutoff": now - timedelta(seconds=after_s)},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
