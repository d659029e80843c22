"""Reading trips with both sets of figures: the city's, the operator's, fleetbed's."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, literal_column, select, true, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import InvalidInput, NotFound
from fleet.trips.models import Trip


@dataclass(frozen=True)
class TripFilter:
    """Which closed trips a list shows; `provider_ids` None means every provider."""

    provider_ids: Sequence[uuid.UUID] | None
    device_id: uuid.UUID | None = None
    flagged: bool | None = None
    ended_from: datetime | None = None
    ended_to: datetime | None = None


@dataclass(frozen=True)
class TripPage:
    """One page of trips by end time; `next_after` is the trip that continues the list."""

    trips: list[Trip]
    next_after: uuid.UUID | None


def _visible(provider_ids: Sequence[uuid.UUID] | None) -> ColumnElement[bool]:
    return true() if provider_ids is None else Trip.provider_id.in_(provider_ids)


async def list_trips(
    session: AsyncSession, *, where: TripFilter, limit: int, after: uuid.UUID | None
) -> TripPage:
    """Closed trips by end time, then trip id; `after` is the last trip of the page before."""
    if where.ended_from and where.ended_to and where.ended_to <= where.ended_from:
        raise InvalidInput("ended_to must be after ended_from", fields=("ended_to",))
    query = select(Trip).where(Trip.status == "closed", _visible(where.provider_ids))
    if where.device_id is not None:
        query = query.where(Trip.device_id == where.device_id)
    if where.flagged is not None:
        # Written as the partial index's predicate, so that the index serves it.
        flagged = Trip.discrepancies != literal_column("'{}'::text[]")
        query = query.where(flagged if where.flagged else ~flagged)
    if where.ended_from is not None:
        query = query.where(Trip.end_at >= where.ended_from)
    if where.ended_to is not None:
        query = query.where(Trip.end_at < where.ended_to)
    if after is not None:
        # Another provider's trip is no cursor, as if it did not exist.
        cursor_of = select(Trip.end_at, Trip.trip_id).where(
            Trip.trip_id == after, Trip.status == "closed", _visible(where.provider_ids)
        )
        cursor = (await session.execute(cursor_of)).first()
        if cursor is None:
            raise InvalidInput(f"after: no trip {after} to continue from", fields=("after",))
        query = query.where(tuple_(Trip.end_at, Trip.trip_id) > tuple(cursor))
    rows = list(
        (await session.scalars(query.order_by(Trip.end_at, Trip.trip_id).limit(limit + 1))).all()
    )
    shown = rows[:limit]
    return TripPage(shown, shown[-1].trip_id if len(rows) > limit else None)


async def get_trip(
    session: AsyncSession, *, provider_ids: Sequence[uuid.UUID] | None, trip_id: uuid.UUID
) -> Trip:
    """One trip the caller may see; NotFound alike for unknown and others' trips."""
    query = select(Trip).where(Trip.trip_id == trip_id, _visible(provider_ids))
    found = (await session.scalars(query)).first()
    if found is None:
        raise NotFound(f"no trip {trip_id}")
    return found
