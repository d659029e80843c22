"""Trip starts and ends per H3 cell and hour, from the trip history in PostgreSQL."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from h3ronpy.vector import coordinates_to_cells  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Every trip start (or end) in the window as three arrays: the hours (epoch seconds /
# 3600) and the places. One row of arrays decodes in C; a row per trip costs a Python
# object each, and a city's four weeks hold hundreds of thousands.
_ENDS = {
    side: text(
        f"""
        SELECT array_agg(floor(extract(epoch FROM t.{side}_at) / 3600)::bigint) AS hours,
               array_agg(t.{side}_lat) AS lats, array_agg(t.{side}_lng) AS lngs
        FROM trips t
        JOIN vehicles v ON v.provider_id = t.provider_id AND v.device_id = t.device_id
        WHERE (CAST(:providers AS uuid[]) IS NULL OR t.provider_id = ANY(:providers))
          AND t.{side}_at >= :since AND t.{side}_at < :until AND t.{side}_lat IS NOT NULL
          AND (CAST(:vehicle_type AS text) IS NULL OR v.vehicle_type = :vehicle_type)
        """  # noqa: S608 (the side is one of two constants)
    )
    for side in ("start", "end")
}


async def hourly_trip_counts(
    session: AsyncSession,
    *,
    provider_ids: Sequence[uuid.UUID] | None,
    vehicle_type: str | None,
    since: datetime,
    until: datetime,
    resolution: int,
) -> list[tuple[int, datetime, int, int]]:
    """(cell, UTC hour, starts, ends) of every cell and hour with a trip start or end, of
    the providers given (None: every provider)."""
    params = {
        "providers": None if provider_ids is None else list(provider_ids),
        "vehicle_type": vehicle_type,
        "since": since,
        "until": until,
    }
    counted: dict[tuple[int, int], list[int]] = {}
    for column, side in enumerate(("start", "end")):
        found = (await session.execute(_ENDS[side], params)).one()
        if found.hours is None:
            continue
        hours = np.array(found.hours, dtype=np.int64)
        lats = np.array(found.lats, dtype=np.float64)
        lngs = np.array(found.lngs, dtype=np.float64)
        for (cell, hour), count in _count_pairs(_cells(lats, lngs, resolution), hours):
            counted.setdefault((cell, hour), [0, 0])[column] = count
    return [
        (cell, datetime.fromtimestamp(hour * 3600, UTC), starts, ends)
        for (cell, hour), (starts, ends) in sorted(counted.items())
    ]


def _cells(
    lats: npt.NDArray[np.float64], lngs: npt.NDArray[np.float64], resolution: int
) -> npt.NDArray[np.int64]:
    cells = coordinates_to_cells(lats, lngs, resolution)
    return np.asarray(cells, dtype=np.uint64).astype(np.int64)


def _count_pairs(
    cells: npt.NDArray[np.int64], hours: npt.NDArray[np.int64]
) -> list[tuple[tuple[int, int], int]]:
    pairs, counts = np.unique(np.stack([cells, hours], axis=1), axis=0, return_counts=True)
    return [((int(c), int(h)), int(n)) for (c, h), n in zip(pairs, counts, strict=True)]
