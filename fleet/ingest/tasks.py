"""Task rules on the ingest paths: decide per batch, apply in the batch's transaction."""

import uuid
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from fleet.alerts.models import AlertRecord
from fleet.events.schema import Event
from fleet.ingest.common import newest_per_device
from fleet.tasks.active import ActiveTasks
from fleet.tasks.feed import TaskFeed
from fleet.tasks.rules import (
    Decisions,
    ParkingReport,
    Reading,
    StateChange,
    TaskRules,
    merged,
    on_parking_alerts,
    on_parking_reports,
    on_readings,
    on_states,
)
from fleet.tasks.service import Changed, apply_decisions
from telemetry.hotstate.store import PositionUpdate

# What a batch asks for, given the provider's rules, the time and the (vehicle, kind)
# pairs that have an active task.
Decide = Callable[[TaskRules, datetime, Container[tuple[str, str]]], Decisions]


def _alerted(alerts: Sequence[AlertRecord]) -> list[tuple[str, str, float, float]]:
    return [(str(a.device_id), a.kind, a.lat, a.lng) for a in alerts]


@dataclass
class TaskTriggers:
    """Opens and closes tasks from what a batch shows; `enabled` False skips all of it."""

    feed: TaskFeed
    enabled: bool = True
    known: ActiveTasks = field(default_factory=ActiveTasks)

    async def _apply(
        self, session: AsyncSession, *, provider_id: uuid.UUID, decide: Decide
    ) -> list[Changed]:
        if not self.enabled:
            return []
        now = datetime.now(UTC)
        rules, active = await self.known.current(session, provider_id=provider_id)
        decisions = decide(rules, now, active.keys())
        return await apply_decisions(
            session, provider_id=provider_id, decisions=decisions, now=now, active=active
        )

    async def on_telemetry(
        self,
        session: AsyncSession,
        *,
        provider_id: uuid.UUID,
        latest: Sequence[PositionUpdate],
        alerts: Sequence[AlertRecord],
    ) -> list[Changed]:
        """Battery swaps and relocations from a telemetry batch's newest points and alerts."""
        readings = [Reading(u.device_id, u.vehicle_type, u.battery, u.lat, u.lng) for u in latest]
        return await self._apply(
            session,
            provider_id=provider_id,
            decide=lambda rules, now, active: merged(
                on_parking_alerts(_alerted(alerts), rules, now),
                on_readings(readings, rules, now, active),
            ),
        )

    async def on_events(
        self,
        session: AsyncSession,
        *,
        provider_id: uuid.UUID,
        events: Sequence[Event],
        alerts: Sequence[AlertRecord],
    ) -> list[Changed]:
        """Collections for repair from states, relocations opened or closed at trip ends."""
        changes = [
            StateChange(
                d,
                e["vehicle_state"],
                e["location"]["lat"] if "location" in e else None,
                e["location"]["lng"] if "location" in e else None,
            )
            for d, e in newest_per_device(events, later_wins_ties=True).items()
        ]
        badly_parked = {str(a.device_id) for a in alerts}
        reports = [
            ParkingReport(
                e["device_id"],
                e["location"]["lat"],
                e["location"]["lng"],
                e["device_id"] not in badly_parked,
            )
            for e in events
            if "trip_end" in e["event_types"] and "location" in e
        ]
        return await self._apply(
            session,
            provider_id=provider_id,
            decide=lambda rules, now, _: merged(
                on_parking_alerts(_alerted(alerts), rules, now),
                on_states(changes, rules, now),
                on_parking_reports(reports),
            ),
        )

    async def publish(self, changes: Sequence[Changed]) -> None:
        """After the commit: stream the changes."""
        await self.feed.publish(changes)
