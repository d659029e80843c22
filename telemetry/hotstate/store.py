"""The only module that speaks to Redis about live vehicle state."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import h3.api.basic_int as h3
import orjson
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from telemetry.hotstate import keys, scripts

# Keep each script run short: Redis serves nobody else while it runs.
CHUNK = 1000
R8, R9 = keys.SUPPLY_RESOLUTIONS


class PositionUpdate(NamedTuple):
    """A vehicle's reported position at a time (a tuple: made for every point batch)."""

    device_id: str
    ts_ms: int
    lat: float
    lng: float
    battery: int | None
    speed: float | None
    vehicle_type: str


class StateUpdate(NamedTuple):
    """A vehicle's state as of an event, and the newest time it was known on a trip."""

    device_id: str
    ts_ms: int
    state: str
    vehicle_type: str
    trip_ts_ms: int | None = None


@dataclass(frozen=True)
class LiveVehicle:
    """What Redis knows about one vehicle now."""

    device_id: str
    lat: float | None
    lng: float | None
    ts_ms: int | None
    battery: int | None
    speed: float | None
    state: str | None
    state_ts_ms: int | None
    vehicle_type: str | None
    cell8: int | None
    # The newest event pertaining to a trip: public ids rotate when it changes.
    trip_ts_ms: int | None = None


_FIELDS = ("lat", "lng", "ts", "bat", "spd", "st", "sts", "vt", "c8", "trip")


def _live(device_id: str, values: Sequence[bytes | None]) -> LiveVehicle | None:
    lat, lng, ts, bat, spd, st, sts, vt, c8, trip = values
    if all(v is None for v in values):
        return None
    return LiveVehicle(
        device_id=device_id,
        lat=float(lat) if lat is not None else None,
        lng=float(lng) if lng is not None else None,
        ts_ms=int(ts) if ts is not None else None,
        battery=int(bat) if bat not in (None, b"") else None,
        speed=float(spd) if spd not in (None, b"") else None,
        state=st.decode() if st is not None else None,
        state_ts_ms=int(sts) if sts is not None else None,
        vehicle_type=vt.decode() if vt is not None else None,
        cell8=int(c8) if c8 is not None else None,
        trip_ts_ms=int(trip) if trip is not None else None,
    )


def _position_row(update: PositionUpdate) -> list[str]:
    # Both cells from the point: an H3 parent is not always the coarser cell that contains
    # the point (about 7% differ at resolutions 8/9), and supply counts must be exact.
    return [
        update.device_id,
        str(update.ts_ms),
        repr(update.lat),
        repr(update.lng),
        "" if update.battery is None else str(update.battery),
        "" if update.speed is None else repr(update.speed),
        str(h3.latlng_to_cell(update.lat, update.lng, R8)),
        str(h3.latlng_to_cell(update.lat, update.lng, R9)),
        update.vehicle_type,
    ]


class HotState:
    """Applies updates in batches and answers live queries."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._positions = redis.register_script(scripts.POSITIONS)
        self._states = redis.register_script(scripts.STATES)
        self._tracks_due = redis.register_script(scripts.TRACKS_DUE)
        self._tracks_set = redis.register_script(scripts.TRACKS_SET)
        self._fleet = redis.register_script(scripts.FLEET)

    async def _apply(
        self, script: AsyncScript, provider_id: uuid.UUID | str, rows: Sequence[list[str]]
    ) -> int:
        applied = 0
        prefix = keys.vehicle_key(provider_id, "")
        for start in range(0, len(rows), CHUNK):
            batch = orjson.dumps(rows[start : start + CHUNK])
            result = await script(keys=keys.provider_keys(provider_id), args=[prefix, batch])
            applied += int(result)
        return applied

    async def apply_positions(
        self, provider_id: uuid.UUID | str, updates: Sequence[PositionUpdate]
    ) -> int:
        """Move vehicles to newer positions; older ones are ignored. Returns how many moved."""
        return await self._apply(self._positions, provider_id, [_position_row(u) for u in updates])

    async def apply_states(
        self, provider_id: uuid.UUID | str, updates: Sequence[StateUpdate]
    ) -> int:
        """Set vehicles' states when the event is not older than the known one; a trip
        time moves forward whatever the state's age (a late trip still happened)."""
        rows = [
            [
                u.device_id,
                str(u.ts_ms),
                u.state,
                u.vehicle_type,
                "" if u.trip_ts_ms is None else str(u.trip_ts_ms),
            ]
            for u in updates
        ]
        return await self._apply(self._states, provider_id, rows)

    async def tracks_due(
        self, provider_id: uuid.UUID | str, rows: Sequence[tuple[str, str, bool]]
    ) -> dict[str, bytes | None]:
        """Stored tracking state of the vehicles that need evaluation, in one call.

        `rows` are (device, signature of its newest zones, forced); a vehicle is due when
        forced or when its stored signature differs. Ids and states travel as one JSON
        string each way: thousands of arguments would cost more to encode than the work.
        """
        if not rows:
            return {}
        prefix = keys.track_key(provider_id, "")
        payload = orjson.dumps([[d, sig, int(forced)] for d, sig, forced in rows])
        raw = await self._tracks_due(keys=[], args=[prefix, payload])
        due: dict[str, str] = orjson.loads(raw)
        return {d: v.encode() or None for d, v in due.items()}

    async def save_tracks(
        self, provider_id: uuid.UUID | str, tracks: Mapping[str, tuple[bytes, str]]
    ) -> None:
        """Store vehicles' tracking states with their signatures, in one call."""
        if tracks:
            prefix = keys.track_key(provider_id, "")
            payload = orjson.dumps({d: [v.decode(), sig] for d, (v, sig) in tracks.items()})
            await self._tracks_set(keys=[], args=[prefix, payload])

    async def _append(self, stream: str, maxlen: int, entries: Sequence[Mapping[str, str]]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for entry in entries:
                pipe.xadd(stream, dict(entry), maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
            await pipe.execute()

    async def publish_alerts(self, entries: Sequence[Mapping[str, str]]) -> None:
        """Append alerts to the stream workers read."""
        await self._append(keys.ALERT_STREAM, keys.ALERT_STREAM_MAXLEN, entries)

    async def publish_task_changes(self, entries: Sequence[Mapping[str, str]]) -> None:
        """Append task changes to the stream apps and workers read."""
        await self._append(keys.TASK_STREAM, keys.TASK_STREAM_MAXLEN, entries)

    async def intact(self) -> bool:
        """False when Redis has lost the state since the last full rebuild."""
        return bool(await self.redis.exists(keys.intact_key()))

    async def mark_intact(self) -> None:
        """Record that the state was fully rebuilt."""
        await self.redis.set(keys.intact_key(), "1")

    async def clear(self, provider_id: uuid.UUID | str) -> None:
        """Forget everything about a provider (before a rebuild)."""
        doomed = [k async for k in self.redis.scan_iter(keys.vehicle_pattern(provider_id), 1000)]
        doomed += keys.provider_keys(provider_id)
        for start in range(0, len(doomed), CHUNK):
            await self.redis.delete(*doomed[start : start + CHUNK])

    async def vehicles(
        self, provider_id: uuid.UUID | str, device_ids: Sequence[str]
    ) -> list[LiveVehicle | None]:
        """Live state of the given vehicles, None where Redis knows nothing."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for device_id in device_ids:
                pipe.hmget(keys.vehicle_key(provider_id, device_id), _FIELDS)
            rows = await pipe.execute()
        return [_live(d, row) for d, row in zip(device_ids, rows, strict=True)]

    async def fleet(self, provider_id: uuid.UUID | str) -> list[LiveVehicle]:
        """Every vehicle of the provider that Redis has a position of, with its state;
        read by slices of CHUNK, each one script call (not a command per vehicle)."""
        width = len(_FIELDS) + 1
        prefix = keys.vehicle_key(provider_id, "")
        found: list[LiveVehicle] = []
        start = 0
        while True:
            flat: list[Any] = await self._fleet(
                keys=[keys.geo_key(provider_id)],
                args=[prefix, start, start + CHUNK - 1, *_FIELDS],
            )
            for i in range(0, len(flat), width):
                vehicle = _live(flat[i].decode(), flat[i + 1 : i + width])
                if vehicle is not None:
                    found.append(vehicle)
            if len(flat) < CHUNK * width:
                return found
            start += CHUNK

    async def within_radius(
        self, provider_id: uuid.UUID | str, lat: float, lng: float, radius_m: float
    ) -> list[tuple[str, float]]:
        """(device_id, distance in metres) within the radius, nearest first."""
        found: list[Any] = await self.redis.geosearch(
            keys.geo_key(provider_id),
            longitude=lng,
            latitude=lat,
            radius=radius_m,
            unit="m",
            sort="ASC",
            withdist=True,
        )
        return [(member.decode(), float(dist)) for member, dist in found]

    async def within_box(
        self,
        provider_id: uuid.UUID | str,
        center: tuple[float, float],
        width_m: float,
        height_m: float,
    ) -> list[str]:
        """Device ids in a box of the given size around `center` (lat, lng)."""
        found: list[Any] = await self.redis.geosearch(
            keys.geo_key(provider_id),
            longitude=center[1],
            latitude=center[0],
            width=width_m,
            height=height_m,
            unit="m",
        )
        return [member.decode() for member in found]

    async def supply(
        self, provider_id: uuid.UUID | str, resolution: int
    ) -> dict[tuple[int, str], int]:
        """Available vehicles per (cell, vehicle type) at a supply resolution."""
        raw: dict[Any, Any] = await self.redis.hgetall(keys.supply_key(provider_id, resolution))
        counts: dict[tuple[int, str], int] = {}
        for field, value in raw.items():
            cell, _, vehicle_type = field.decode().partition("|")
            counts[(int(cell), vehicle_type)] = int(value)
        return counts
