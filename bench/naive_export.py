"""The baseline: GET /v1/exports/trips (raw) written the straightforward way.

The same rows and columns as fleetbed's raw trip export, but every trip of the window is
loaded through the SQLAlchemy ORM (`select(Trip)` joined with the vehicle for its type,
`.all()`), the whole file is built in memory (the csv module into a StringIO, or a pyarrow
table written to a BytesIO) and returned in one response.
It checks no credentials and applies no privacy rule, so it does less work than fleetbed.
Run as `python -m bench.naive_export --port N --database-url ...`.
"""

import argparse
import csv
import io
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
import uvicorn
from fastapi import FastAPI, Query
from fastapi.responses import Response
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from fleet.trips.models import Trip
from fleet.vehicles.models import Vehicle

# fleetbed's raw trip export columns, in its order.
COLUMNS = (
    "provider_id",
    "device_id",
    "trip_id",
    "vehicle_type",
    "start_time",
    "end_time",
    "start_lat",
    "start_lng",
    "end_lat",
    "end_lng",
    "duration_s",
    "distance_m",
    "parking_category",
)


def _time(when: datetime | None) -> str | None:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z") if when else None


def _values(trip: Trip, vehicle_type: str | None, times: Callable[[Any], Any]) -> tuple[Any, ...]:
    return (
        str(trip.provider_id),
        str(trip.device_id),
        str(trip.trip_id),
        vehicle_type,
        times(trip.start_at),
        times(trip.end_at),
        trip.start_lat,
        trip.start_lng,
        trip.end_lat,
        trip.end_lng,
        trip.duration_s,
        trip.distance_m,
        trip.parking_category,
    )


def to_csv(rows: Sequence[Row[Trip, str | None]]) -> bytes:
    """The whole CSV file, header first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for trip, vehicle_type in rows:
        writer.writerow(_values(trip, vehicle_type, _time))
    return out.getvalue().encode()


def _same(value: Any) -> Any:
    return value


def to_parquet(rows: Sequence[Row[Trip, str | None]]) -> bytes:
    """The whole Parquet file, from one in-memory table."""
    columns: list[list[Any]] = [[] for _ in COLUMNS]
    for trip, vehicle_type in rows:
        for column, value in zip(columns, _values(trip, vehicle_type, _same), strict=True):
            column.append(value)
    out = io.BytesIO()
    pq.write_table(pa.table(dict(zip(COLUMNS, columns, strict=True))), out)
    return out.getvalue()


def create_app(database_url: str) -> FastAPI:
    """The baseline application."""
    engine = create_async_engine(database_url)
    sessions = async_sessionmaker(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/exports/trips")
    async def export_trips(
        start: Annotated[datetime, Query(alias="from")],
        end: Annotated[datetime, Query(alias="to")],
        format: Literal["csv", "parquet"] = "csv",
    ) -> Response:
        query = (
            select(Trip, Vehicle.vehicle_type)
            .outerjoin(Vehicle, Vehicle.device_id == Trip.device_id)
            .where(
                Trip.status == "closed",
                Trip.start_lat.is_not(None),
                Trip.end_lat.is_not(None),
                Trip.end_at >= start,
                Trip.end_at < end,
            )
            .order_by(Trip.end_at, Trip.trip_id)
        )
        async with sessions() as session:
            rows = (await session.execute(query)).all()
        if format == "csv":
            return Response(to_csv(rows), media_type="text/csv")
        return Response(to_parquet(rows), media_type="application/vnd.apache.parquet")

    return app


def main() -> None:
    """Serve the baseline on a loopback port."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    app = create_app(args.database_url)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
