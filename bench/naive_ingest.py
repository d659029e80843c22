"""The baseline: POST /mds/agency/telemetry written the straightforward way.

One pydantic model per point, one ORM SELECT per point to check the device, one ORM row
per point, one commit per request, then one Redis round trip per command and point.
It checks no credentials and no provider ownership, so it does less work than fleetbed.
Run as `python -m bench.naive_ingest --port N --database-url ... --redis-url ...`.
"""

import argparse
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from redis.asyncio import Redis
from sqlalchemy import ARRAY, Boolean, DateTime, Float, SmallInteger, String, func, select
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """The baseline's own metadata (separate from fleetbed's)."""


class RegisteredVehicle(Base):
    """fleetbed's `vehicles` table, mapped read-only with the columns the check needs."""

    __tablename__ = "vehicles"

    device_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    provider_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    vehicle_type: Mapped[str] = mapped_column(String(32))


class NaiveTelemetry(Base):
    """A plain, unpartitioned table with the columns of fleetbed's telemetry."""

    __tablename__ = "naive_telemetry"

    device_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    provider_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    telemetry_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    lat: Mapped[float] = mapped_column(Float(53))
    lng: Mapped[float] = mapped_column(Float(53))
    altitude: Mapped[float | None] = mapped_column(Float(53))
    heading: Mapped[float | None] = mapped_column(Float(53))
    speed: Mapped[float | None] = mapped_column(Float(53))
    horizontal_accuracy: Mapped[float | None] = mapped_column(Float(53))
    vertical_accuracy: Mapped[float | None] = mapped_column(Float(53))
    satellites: Mapped[int | None] = mapped_column(SmallInteger)
    battery_percent: Mapped[int | None] = mapped_column(SmallInteger)
    fuel_percent: Mapped[int | None] = mapped_column(SmallInteger)
    trip_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(UUID(as_uuid=True)))
    journey_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    stop_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    data_provider_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    location_type: Mapped[str | None] = mapped_column(String(16))
    tipped_over: Mapped[bool | None] = mapped_column(Boolean)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Location(BaseModel):
    """MDS GPS."""

    lat: float
    lng: float
    altitude: float | None = None
    heading: float | None = None
    speed: float | None = None
    horizontal_accuracy: float | None = None
    vertical_accuracy: float | None = None
    satellites: int | None = None


class TelemetryIn(BaseModel):
    """MDS Telemetry."""

    device_id: uuid.UUID
    provider_id: uuid.UUID
    data_provider_id: uuid.UUID | None = None
    telemetry_id: uuid.UUID
    timestamp: int
    trip_ids: list[uuid.UUID] | None
    journey_id: uuid.UUID | None
    stop_id: uuid.UUID | None = None
    location: Location
    location_type: str | None = None
    battery_percent: int | None = None
    fuel_percent: int | None = None
    tipped_over: bool | None = None


def to_row(point: TelemetryIn) -> NaiveTelemetry:
    """The ORM row of one point."""
    loc = point.location
    return NaiveTelemetry(
        device_id=point.device_id,
        recorded_at=datetime.fromtimestamp(point.timestamp / 1000, UTC),
        provider_id=point.provider_id,
        telemetry_id=point.telemetry_id,
        lat=loc.lat,
        lng=loc.lng,
        altitude=loc.altitude,
        heading=loc.heading,
        speed=loc.speed,
        horizontal_accuracy=loc.horizontal_accuracy,
        vertical_accuracy=loc.vertical_accuracy,
        satellites=loc.satellites,
        battery_percent=point.battery_percent,
        fuel_percent=point.fuel_percent,
        trip_ids=point.trip_ids,
        journey_id=point.journey_id,
        stop_id=point.stop_id,
        data_provider_id=point.data_provider_id,
        location_type=point.location_type,
        tipped_over=point.tipped_over,
    )


async def _create_table(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(
            Base.metadata.create_all, tables=[Base.metadata.tables["naive_telemetry"]]
        )


def create_app(database_url: str, redis_url: str) -> FastAPI:
    """The baseline application."""
    engine = create_async_engine(database_url, pool_size=10)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    redis = Redis.from_url(redis_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await _create_table(engine)
        yield
        await redis.aclose()
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/mds/agency/telemetry", status_code=201)
    async def post_telemetry(points: list[TelemetryIn]) -> dict[str, Any]:
        async with sessions() as session:
            for point in points:
                found = await session.execute(
                    select(RegisteredVehicle).where(RegisteredVehicle.device_id == point.device_id)
                )
                if found.scalar_one_or_none() is None:
                    raise HTTPException(400, f"unregistered device {point.device_id}")
                session.add(to_row(point))
            await session.commit()
        for point in points:
            device = str(point.device_id)
            await redis.hset(
                f"naive:vehicle:{device}",
                mapping={
                    "lat": point.location.lat,
                    "lng": point.location.lng,
                    "ts": point.timestamp,
                    "bat": "" if point.battery_percent is None else point.battery_percent,
                },
            )
            await redis.geoadd("naive:geo", (point.location.lng, point.location.lat, device))
        return {"success": len(points), "total": len(points), "failures": []}

    return app


def main() -> None:
    """Serve the baseline on a loopback port."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    args = parser.parse_args()
    app = create_app(args.database_url, args.redis_url)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
