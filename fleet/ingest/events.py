"""POST /mds/agency/events: mode-checked, all or nothing, idempotent by event_id."""

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.auth import Mode
from app.core.mstime import from_ms, sql_ms
from fleet.events.latest import last_event_sql
from fleet.events.models import VehicleEvent
from fleet.events.rentals import newest_trip_ms
from fleet.events.schema import Event, event_schema
from fleet.events.state_machines import STATE_MACHINES, StateMachine
from fleet.ingest.common import PostedBatch, newest_per_device, parse_or_reject, reject_unregistered
from fleet.ingest.dispatch import DispatchEvents
from fleet.ingest.live import LiveFeed
from fleet.ingest.rules import Outcome, ZoneRules
from fleet.ingest.tasks import TaskTriggers
from fleet.trips.lifecycle import apply_trip_events
from fleet.vehicles.directory import DeviceDirectory, DeviceInfo
from telemetry.hotstate.store import StateUpdate
from telemetry.quality import sentinel_counts

# Each event's prior state as stored: the vehicle's last event before it.
_PRIOR = last_event_sql(
    "vehicle_state, occurred_at",
    provider=":provider_id",
    device="q.device_id",
    before="q.occurred_at",
)
_STORED_PRIOR = text(
    f"""
    SELECT q.idx, e.vehicle_state,
           {sql_ms("e.occurred_at")} AS ts_ms
    FROM unnest(CAST(:devices AS uuid[]), CAST(:times AS timestamptz[]), CAST(:idx AS int[]))
         AS q(device_id, occurred_at, idx)
    JOIN LATERAL ({_PRIOR}) e ON true
    """  # noqa: S608 (constants only)
)


def prior_states(events: Sequence[Event], stored: dict[int, tuple[str, int]]) -> list[str | None]:
    """The state each event starts from: the newest earlier event, stored or in the batch.

    `stored` maps an event's index to the newest stored earlier (state, timestamp).
    """
    by_device: dict[str, list[int]] = {}
    for i, event in enumerate(events):
        by_device.setdefault(event["device_id"], []).append(i)
    priors: list[str | None] = [None] * len(events)
    for indices in by_device.values():
        for i in indices:
            best = stored.get(i)
            for j in indices:
                ts = events[j]["timestamp"]
                if ts < events[i]["timestamp"] and (best is None or ts >= best[1]):
                    best = (events[j]["vehicle_state"], ts)
            priors[i] = best[0] if best else None
    return priors


def anomalies(
    events: Sequence[Event], priors: Sequence[str | None], machine: StateMachine
) -> list[bool]:
    """Whether each event's transition is one its mode's table does not allow."""
    return [
        not machine.transition_allowed(prior, e["event_types"], e["vehicle_state"])
        for e, prior in zip(events, priors, strict=True)
    ]


def newest_states(events: Sequence[Event], infos: dict[str, DeviceInfo]) -> list[StateUpdate]:
    """The newest event of each device in the batch (later arrival wins a tie), with the
    newest of its events that pertain to a trip."""
    trips = newest_trip_ms(events)
    return [
        StateUpdate(d, e["timestamp"], e["vehicle_state"], infos[d].vehicle_type, trips.get(d))
        for d, e in newest_per_device(events, later_wins_ties=True).items()
    ]


async def _stored_priors(
    session: AsyncSession, *, provider_id: uuid.UUID, events: Sequence[Event]
) -> dict[int, tuple[str, int]]:
    rows = await session.execute(
        _STORED_PRIOR,
        {
            "provider_id": provider_id,
            "devices": [uuid.UUID(e["device_id"]) for e in events],
            "times": [from_ms(e["timestamp"]) for e in events],
            "idx": list(range(len(events))),
        },
    )
    return {row.idx: (row.vehicle_state, int(row.ts_ms)) for row in rows}


@dataclass
class EventIngest:
    """The events pipeline with its process-wide parts."""

    directory: DeviceDirectory
    live: LiveFeed
    rules: ZoneRules
    # Told how many stored events carried meaningless GPS values (for /metrics).
    count_sentinels: Callable[[Mapping[str, int]], None]
    # How far the operator's and fleetbed's trip figures may differ unflagged.
    discrepancy_share: float
    tasks: TaskTriggers
    dispatch: DispatchEvents

    async def ingest(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        provider_id: uuid.UUID,
        mode: Mode,
        batch: PostedBatch,
    ) -> int:
        """Validate, store in one transaction, then update live states; returns the count."""
        machine = STATE_MACHINES[mode]
        events = parse_or_reject(batch, event_schema(str(provider_id), machine))
        async with sessionmaker.begin() as session:
            infos = await self.directory.resolve(
                session, provider_id=provider_id, device_ids={e["device_id"] for e in events}
            )
            reject_unregistered(events, infos)
            flags = anomalies(
                events,
                prior_states(
                    events, await _stored_priors(session, provider_id=provider_id, events=events)
                ),
                machine,
            )
            result = await session.execute(
                insert(VehicleEvent)
                .values(
                    [
                        {
                            "event_id": uuid.UUID(e["event_id"]),
                            "device_id": uuid.UUID(e["device_id"]),
                            "provider_id": provider_id,
                            "occurred_at": from_ms(e["timestamp"]),
                            "vehicle_state": e["vehicle_state"],
                            "event_types": e["event_types"],
                            "trip_ids": [uuid.UUID(t) for t in e.get("trip_ids") or []] or None,
                            "anomaly": flag,
                            "record": dict(e),
                        }
                        for e, flag in zip(events, flags, strict=True)
                    ]
                )
                .on_conflict_do_nothing(index_elements=[VehicleEvent.event_id])
                .returning(VehicleEvent.event_id)
            )
            stored = {str(event_id) for event_id in result.scalars()}
            # Replays are not stored again, so they must not move the live state either.
            fresh = [e for e in events if e["event_id"] in stored]
            alerts = await self.rules.on_trip_ends(
                session, provider_id=provider_id, events=fresh, infos=infos
            )
            await apply_trip_events(
                session,
                provider_id=provider_id,
                events=fresh,
                parking=self.rules.parking_check(provider_id, infos),
                share=self.discrepancy_share,
            )
            tasks = await self.tasks.on_events(
                session, provider_id=provider_id, events=fresh, alerts=alerts
            )
            routes = await self.dispatch.on_events(
                session, provider_id=provider_id, mode=mode, events=fresh
            )
        self.count_sentinels(sentinel_counts(e["location"] for e in fresh if "location" in e))
        await self.live.states(provider_id, newest_states(fresh, infos))
        await self.rules.publish(provider_id, Outcome(alerts, {}))
        await self.tasks.publish(tasks)
        await self.dispatch.publish(routes)
        return len(events)
