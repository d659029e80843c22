"""Register, update and read MDS vehicles; a batch is applied whole or not at all."""

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Mode
from app.core.errors import (
    BulkAlreadyRegistered,
    BulkFailure,
    BulkRejected,
    BulkUnregistered,
    NotFound,
)
from fleet.vehicles.mds_schema import validate_vehicles
from fleet.vehicles.models import Vehicle


def _checked(items: list[Any], mode: Mode, provider_id: uuid.UUID) -> list[dict[str, Any]]:
    valid, failures = validate_vehicles(items, mode=mode, provider_id=provider_id)
    if failures:
        raise BulkRejected(len(items), failures)
    return valid


def _row(vehicle: dict[str, Any]) -> dict[str, Any]:
    return {
        "device_id": uuid.UUID(vehicle["device_id"]),
        "provider_id": uuid.UUID(vehicle["provider_id"]),
        "vehicle_id": vehicle["vehicle_id"],
        "vehicle_type": str(vehicle["vehicle_type"]),
        "record": vehicle,
    }


async def register_vehicles(
    session: AsyncSession, *, provider_id: uuid.UUID, mode: Mode, items: list[Any]
) -> int:
    """Register a batch of MDS vehicles for `provider_id`; returns how many."""
    vehicles = _checked(items, mode, provider_id)
    rows = [_row(v) for v in vehicles]
    inserted = set(
        (
            await session.execute(
                insert(Vehicle)
                .values(rows)
                .on_conflict_do_nothing(index_elements=[Vehicle.provider_id, Vehicle.device_id])
                .returning(Vehicle.device_id)
            )
        ).scalars()
    )
    if len(inserted) != len(rows):
        failures = [
            BulkFailure(
                vehicle,
                "already_registered",
                "A vehicle with this device_id is already registered",
                ["device_id"],
            )
            for vehicle, row in zip(vehicles, rows, strict=True)
            if row["device_id"] not in inserted
        ]
        raise BulkAlreadyRegistered(len(items), failures)
    return len(rows)


async def update_vehicles(
    session: AsyncSession, *, provider_id: uuid.UUID, mode: Mode, items: list[Any]
) -> int:
    """Replace the records of already registered vehicles of `provider_id`."""
    vehicles = _checked(items, mode, provider_id)
    ids = [uuid.UUID(v["device_id"]) for v in vehicles]
    owned = set(
        (
            await session.execute(
                select(Vehicle.device_id)
                .where(Vehicle.provider_id == provider_id, Vehicle.device_id.in_(ids))
                .with_for_update()
            )
        ).scalars()
    )
    unknown = [
        BulkFailure(v, "unregistered", "This device_id is unregistered", ["device_id"])
        for v, device_id in zip(vehicles, ids, strict=True)
        if device_id not in owned
    ]
    if unknown:
        raise BulkUnregistered(len(items), unknown)
    for vehicle in vehicles:
        row = _row(vehicle)
        await session.execute(
            update(Vehicle)
            .where(Vehicle.provider_id == provider_id, Vehicle.device_id == row["device_id"])
            .values(
                vehicle_id=row["vehicle_id"],
                vehicle_type=row["vehicle_type"],
                record=row["record"],
                updated_at=func.now(),
            )
        )
    return len(vehicles)


@dataclass(frozen=True)
class KeysetPage:
    """One page of records in device-id order; `next_after` is the cursor of the next."""

    records: list[dict[str, Any]]
    next_after: uuid.UUID | None


async def list_vehicles(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    limit: int,
    after: uuid.UUID | None = None,
) -> KeysetPage:
    """A page of `provider_id`'s vehicles in device-id order, after the cursor `after`."""
    query = select(Vehicle.device_id, Vehicle.record).where(Vehicle.provider_id == provider_id)
    if after is not None:
        query = query.where(Vehicle.device_id > after)
    rows = (await session.execute(query.order_by(Vehicle.device_id).limit(limit + 1))).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return KeysetPage(
        records=[record for _, record in rows],
        next_after=rows[-1][0] if more else None,
    )


async def get_vehicle(
    session: AsyncSession, *, provider_id: uuid.UUID, device_id: uuid.UUID
) -> dict[str, Any]:
    """One vehicle of `provider_id`; another provider's vehicle is NotFound too."""
    record: dict[str, Any] | None = (
        await session.execute(
            select(Vehicle.record).where(
                Vehicle.provider_id == provider_id, Vehicle.device_id == device_id
            )
        )
    ).scalar_one_or_none()
    if record is None:
        raise NotFound(f"vehicle {device_id} not found")
    return record
