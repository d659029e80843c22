"""MDS Provider feeds besides the hourly ones: recent events, vehicles, vehicle status, and
the counts behind monthly reports. `provider_ids` None means every provider."""

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import exists, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import InvalidInput, NotFound
from fleet.events.models import VehicleEvent
from fleet.live.queries import ON_TRIP, Scope, providers_in
from fleet.reporting.monthly_report import (
    ADAPTIVE,
    NON_RIDER_TRIP_TYPES,
    SCOOTER_TYPES,
    Key,
    ReportRow,
    TripCounts,
    report_rows,
)
from fleet.trips.models import Trip, reported
from fleet.vehicles import status
from fleet.vehicles.models import Vehicle
from fleet.vehicles.service import KeysetPage

# The spec: /vehicles lists vehicles deployed in the last 30 days; any vehicle by its id.
DEPLOYED_WITHIN = timedelta(days=30)
# The spec: vehicles in these states leave /vehicles/status 90 minutes after entering them.
LINGERING_STATES = frozenset({"elsewhere", "removed", "missing"})
LINGER_MS = 90 * 60 * 1000


def shown_in_feed(last_event: dict[str, Any], *, now_ms: int, hide_on_trip: bool) -> bool:
    """Whether a vehicle status belongs in /vehicles/status (pure).

    `hide_on_trip` withholds vehicles on a trip, whose status would give away where the
    rider is, as /v1/vehicles does for city staff.
    """
    state = last_event["vehicle_state"]
    if hide_on_trip and state == ON_TRIP:
        return False
    return state not in LINGERING_STATES or now_ms - int(last_event["timestamp"]) <= LINGER_MS


async def recent_events(
    session: AsyncSession,
    *,
    provider_ids: Sequence[uuid.UUID] | None,
    start: datetime,
    end: datetime,
    limit: int,
    after: uuid.UUID | None,
) -> KeysetPage:
    """Events that occurred in [start, end), as received, oldest first; `after` is the
    event_id that ended the previous page."""
    query = select(VehicleEvent.event_id, VehicleEvent.record).where(
        VehicleEvent.occurred_at >= start, VehicleEvent.occurred_at < end
    )
    cursor_of = select(VehicleEvent.occurred_at, VehicleEvent.seq).where(
        VehicleEvent.event_id == after
    )
    if provider_ids is not None:
        query = query.where(VehicleEvent.provider_id.in_(provider_ids))
        # Another provider's event is no cursor, as if it did not exist.
        cursor_of = cursor_of.where(VehicleEvent.provider_id.in_(provider_ids))
    if after is not None:
        cursor = (await session.execute(cursor_of)).first()
        if cursor is None:
            raise InvalidInput(f"after: no event {after} to continue from", fields=("after",))
        query = query.where(tuple_(VehicleEvent.occurred_at, VehicleEvent.seq) > tuple(cursor))
    order = (VehicleEvent.occurred_at, VehicleEvent.seq)
    rows = (await session.execute(query.order_by(*order).limit(limit + 1))).all()
    return _page(rows, limit)


def _page(rows: Sequence[Any], limit: int) -> KeysetPage:
    """A page of (id, record) rows fetched with one extra to tell whether more follow."""
    shown = rows[:limit]
    return KeysetPage([r[1] for r in shown], shown[-1][0] if len(rows) > limit else None)


async def deployed_vehicles(
    session: AsyncSession,
    *,
    provider_ids: Sequence[uuid.UUID] | None,
    now: datetime,
    limit: int,
    after: uuid.UUID | None,
) -> KeysetPage:
    """Vehicles with an event or a trip in the last 30 days, in device-id order."""
    since = now - DEPLOYED_WITHIN
    query = select(Vehicle.device_id, Vehicle.record).where(
        or_(
            exists().where(
                VehicleEvent.provider_id == Vehicle.provider_id,
                VehicleEvent.device_id == Vehicle.device_id,
                VehicleEvent.occurred_at >= since,
            ),
            exists().where(
                Trip.provider_id == Vehicle.provider_id,
                Trip.device_id == Vehicle.device_id,
                Trip.start_at >= since,
            ),
        )
    )
    if provider_ids is not None:
        query = query.where(Vehicle.provider_id.in_(provider_ids))
    order = (Vehicle.device_id, Vehicle.provider_id)
    paged = query.where(Vehicle.device_id > after) if after is not None else query
    rows = (await session.execute(paged.order_by(*order).limit(limit + 1))).all()
    if len(rows) > limit and rows[limit].device_id == rows[limit - 1].device_id:
        # The cursor is a device id, shared by several providers' vehicles: a page ends
        # after all of them, or the next page would skip the rest.
        last = rows[limit - 1].device_id
        same = (
            await session.execute(query.where(Vehicle.device_id == last).order_by(*order))
        ).all()
        shown = [*(r for r in rows if r.device_id != last), *same]
        return KeysetPage([r.record for r in shown], last)
    return _page(rows, limit)


async def _vehicles(
    session: AsyncSession, *, provider_ids: Sequence[uuid.UUID] | None, device_id: uuid.UUID
) -> Sequence[Any]:
    """Every vehicle registered as `device_id` by the caller's providers (device ids are
    unique per provider only, so a city-wide caller may see several)."""
    query = select(Vehicle.provider_id, Vehicle.record).where(Vehicle.device_id == device_id)
    if provider_ids is not None:
        query = query.where(Vehicle.provider_id.in_(provider_ids))
    return (await session.execute(query.order_by(Vehicle.provider_id))).all()


async def vehicles_by_device(
    session: AsyncSession, *, provider_ids: Sequence[uuid.UUID] | None, device_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The registered vehicles of a device id, whenever deployed; NotFound when none in scope."""
    rows = await _vehicles(session, provider_ids=provider_ids, device_id=device_id)
    if not rows:
        raise NotFound(f"vehicle {device_id} not found")
    return [row.record for row in rows]


async def current_statuses(
    session: AsyncSession,
    *,
    provider_ids: Sequence[uuid.UUID] | None,
    now_ms: int,
    hide_on_trip: bool,
    limit: int,
    after: uuid.UUID | None,
) -> KeysetPage:
    """A page of vehicle statuses in device-id order, those not shown in the feed left out.

    Each provider's next page comes from the Agency status query; merged, their first
    `limit` are the next `limit` of all. A page may be short, or empty with a `next`.
    """
    providers = await providers_in(
        session, scope=Scope(tuple(provider_ids) if provider_ids is not None else None)
    )
    pages = [
        await status.list_statuses(session, provider_id=p, limit=limit, after=after)
        for p in providers
    ]
    merged = sorted(
        (r for page in pages for r in page.records),
        key=lambda r: (r["device_id"], r["provider_id"]),
    )
    # A page ends after every provider's vehicle of its last device id, which is the
    # cursor; each provider's page holds its own one of them, so `merged` has them all.
    end = limit
    while 0 < end < len(merged) and merged[end]["device_id"] == merged[end - 1]["device_id"]:
        end += 1
    taken = merged[:end]
    more = len(merged) > end or any(page.next_after for page in pages)
    shown = [
        s for s in taken if shown_in_feed(s["last_event"], now_ms=now_ms, hide_on_trip=hide_on_trip)
    ]
    return KeysetPage(shown, uuid.UUID(taken[-1]["device_id"]) if more else None)


async def statuses_by_device(
    session: AsyncSession,
    *,
    provider_ids: Sequence[uuid.UUID] | None,
    device_id: uuid.UUID,
    now_ms: int,
    hide_on_trip: bool,
) -> list[dict[str, Any]]:
    """The statuses of a device id the feed would show; NotFound alike for every other case."""
    shown = []
    for row in await _vehicles(session, provider_ids=provider_ids, device_id=device_id):
        try:
            found = await status.get_status(
                session, provider_id=row.provider_id, device_id=device_id
            )
        except NotFound:
            continue
        if shown_in_feed(found["last_event"], now_ms=now_ms, hide_on_trip=hide_on_trip):
            shown.append(found)
    if not shown:
        raise NotFound(f"no status for vehicle {device_id}")
    return shown


_GEOGRAPHIES = text(
    """
    SELECT zone_id FROM zones
    WHERE provider_id IS NULL AND effective_at < :end
      AND (retired_at IS NULL OR retired_at > :start)
    """
)

# Vehicle types in operation: a vehicle of the type had an event or started a trip.
_FLEETS = text(
    """
    SELECT DISTINCT v.provider_id, v.vehicle_type FROM vehicles v
    WHERE (CAST(:providers AS uuid[]) IS NULL OR v.provider_id = ANY(:providers))
      AND (EXISTS (SELECT 1 FROM events e
                   WHERE e.provider_id = v.provider_id AND e.device_id = v.device_id
                   AND e.occurred_at >= :start AND e.occurred_at < :end)
           OR EXISTS (SELECT 1 FROM trips t
                      WHERE t.provider_id = v.provider_id AND t.device_id = v.device_id
                      AND t.start_at >= :start AND t.start_at < :end))
    """
)

# By geography, a trip counts in each city-wide zone version in effect at its start that
# covers its origin, and nowhere else; otherwise all count, with a null geography.
_COUNTS = text(
    f"""
    WITH rides AS (
        SELECT t.provider_id, v.vehicle_type, t.start_at,
               ST_SetSRID(ST_MakePoint(t.start_lng, t.start_lat), 4326) AS origin,
               v.vehicle_type = ANY(:scooters) AND (
                   COALESCE(v.record -> 'accessibility_attributes', CAST('[]' AS jsonb))
                       ? :adaptive
                   OR COALESCE(t.details -> 'agency' -> 'accessibility_attributes',
                               CAST('[]' AS jsonb)) ? :adaptive
               ) AS adaptive
        FROM trips t JOIN vehicles v
          ON v.provider_id = t.provider_id AND v.device_id = t.device_id
        WHERE {reported("t")} AND t.start_at >= :start AND t.start_at < :end
          AND (CAST(:providers AS uuid[]) IS NULL OR t.provider_id = ANY(:providers))
          AND NOT COALESCE(t.details -> 'agency' -> 'trip_type', CAST('[]' AS jsonb))
              ?| CAST(:non_rider AS text[])
    )
    SELECT r.provider_id, z.zone_id AS geography_id, r.vehicle_type,
           count(*) AS trips, count(*) FILTER (WHERE r.adaptive) AS adaptive
    FROM rides r LEFT JOIN zones z
      ON :by_geography AND z.provider_id IS NULL AND z.effective_at <= r.start_at
     AND (z.retired_at IS NULL OR z.retired_at > r.start_at)
     AND ST_Covers(z.geometry, r.origin)
    WHERE NOT :by_geography OR z.zone_id IS NOT NULL
    GROUP BY r.provider_id, z.zone_id, r.vehicle_type
    """  # noqa: S608 - a fixed condition is formatted in; values are bound parameters
)


async def monthly_report(
    session: AsyncSession,
    *,
    provider_ids: Sequence[uuid.UUID] | None,
    month: date,
    start: datetime,
    end: datetime,
    k: int,
) -> list[ReportRow]:
    """The rows of the report of the month beginning on `month`, [start, end) in UTC."""
    window = {
        "start": start,
        "end": end,
        "providers": list(provider_ids) if provider_ids is not None else None,
    }
    bounds = {"start": start, "end": end}
    geographies = list((await session.execute(_GEOGRAPHIES, bounds)).scalars())
    fleets: dict[uuid.UUID, set[str]] = {}
    for provider_id, vehicle_type in await session.execute(_FLEETS, window):
        fleets.setdefault(provider_id, set()).add(vehicle_type)
    params = {
        **window,
        "by_geography": bool(geographies),
        "scooters": sorted(SCOOTER_TYPES),
        "adaptive": ADAPTIVE,
        "non_rider": list(NON_RIDER_TRIP_TYPES),
    }
    counts: dict[Key, TripCounts] = {
        (r.provider_id, r.geography_id, r.vehicle_type): TripCounts(r.trips, r.adaptive)
        for r in await session.execute(_COUNTS, params)
    }
    return report_rows(month=month, fleets=fleets, geographies=geographies, counts=counts, k=k)
