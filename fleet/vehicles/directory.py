"""Which provider owns a device, and its vehicle type: cached for the ingest hot path."""

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.vehicles.models import Vehicle


@dataclass(frozen=True)
class DeviceInfo:
    """Ownership and type of a registered device."""

    provider_id: uuid.UUID
    vehicle_type: str


@dataclass
class DeviceDirectory:
    """Looks devices up in the registry, remembering found ones for `ttl_s`.

    Ownership never changes; the TTL only bounds how long a changed vehicle type lingers.
    Unknown devices are not remembered, so a registration is seen at once.
    """

    ttl_s: float = 60.0
    max_entries: int = 200_000
    clock: Callable[[], float] = time.monotonic
    _entries: dict[str, tuple[float, DeviceInfo]] = field(default_factory=dict)

    async def resolve(
        self, session: AsyncSession, device_ids: Iterable[str]
    ) -> dict[str, DeviceInfo]:
        """Info of every registered device among `device_ids` (absent ones are left out)."""
        now = self.clock()
        found: dict[str, DeviceInfo] = {}
        missing: list[uuid.UUID] = []
        for device_id in device_ids:
            entry = self._entries.get(device_id)
            if entry is not None and entry[0] > now:
                found[device_id] = entry[1]
            else:
                missing.append(uuid.UUID(device_id))
        if missing:
            rows = await session.execute(
                select(Vehicle.device_id, Vehicle.provider_id, Vehicle.vehicle_type).where(
                    Vehicle.device_id.in_(missing)
                )
            )
            if len(self._entries) + len(missing) > self.max_entries:
                self._entries.clear()
            for row in rows:
                info = DeviceInfo(row.provider_id, row.vehicle_type)
                found[str(row.device_id)] = info
                self._entries[str(row.device_id)] = (now + self.ttl_s, info)
        return found
