"""Which devices a provider registered, and their vehicle types: cached for the ingest hot path."""

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.vehicles.models import Vehicle


@dataclass(frozen=True)
class DeviceInfo:
    """What ingest needs to know of a registered device."""

    vehicle_type: str


@dataclass
class DeviceDirectory:
    """Looks a provider's devices up in the registry, remembering found ones for `ttl_s`.

    Device ids are unique per provider only, so entries are kept per provider (one dict
    each: the hot path then hashes plain strings, not (provider, device) tuples).
    Ownership never changes; the TTL only bounds how long a changed vehicle type lingers.
    Unknown devices are not remembered, so a registration is seen at once.
    """

    ttl_s: float = 60.0
    max_entries: int = 200_000
    clock: Callable[[], float] = time.monotonic
    _entries: dict[uuid.UUID, dict[str, tuple[float, DeviceInfo]]] = field(default_factory=dict)

    async def resolve(
        self, session: AsyncSession, *, provider_id: uuid.UUID, device_ids: Iterable[str]
    ) -> dict[str, DeviceInfo]:
        """Info of every device among `device_ids` that `provider_id` registered."""
        now = self.clock()
        known = self._entries.get(provider_id, {})
        found: dict[str, DeviceInfo] = {}
        missing: list[uuid.UUID] = []
        for device_id in device_ids:
            entry = known.get(device_id)
            if entry is not None and entry[0] > now:
                found[device_id] = entry[1]
            else:
                missing.append(uuid.UUID(device_id))
        if missing:
            rows = await session.execute(
                select(Vehicle.device_id, Vehicle.vehicle_type).where(
                    Vehicle.provider_id == provider_id, Vehicle.device_id.in_(missing)
                )
            )
            if sum(map(len, self._entries.values())) + len(missing) > self.max_entries:
                self._entries.clear()
            mine = self._entries.setdefault(provider_id, {})
            for row in rows:
                info = DeviceInfo(row.vehicle_type)
                found[str(row.device_id)] = info
                mine[str(row.device_id)] = (now + self.ttl_s, info)
        return found
