"""Task rules on the ingest paths: decide per batch, apply in the batch's transaction."""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from fleet.alerts.models import AlertRecord
from fleet.events.schema import Event
from fleet.ingest.common import newest_per_device
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
from fleet.tasks.service import Changed, apply_decisions, task_rules
from telemetry.hotstate.store import PositionUpdate

# What a batch asks for, given the provider's rules and the time.
Decide = Callable[[TaskRules, datetime], Decisions]


def _alerted(alerts: Sequence[AlertRecord]) -> list[tuple[str, str, float, float]]:
    return [(str(a.device_id), a.kind, a.lat, a.lng) for a in alerts]


@dataclass
class TaskTriggers:
    """Opens and closes tasks from what a batch shows; `enabled` False skips all of it."""

    feed: TaskFeed
    enabled: bool = True

    async def _apply(
        self, session: AsyncSession, *, provider_id: uuid.UUID, decide: Decide
    ) -> list[Changed]:
        if not self.enabled:
            return []
        now = datetime.now(UTC)
        rules = await task_rules(session, provider_id=provider_id)
        decisions = decide(rules, now)
        if not (decisions.opening or decisions.closing):
            return []
        return await apply_decisions(session, provider_id=provider_id, decisions=decisions, now=now)

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
            decide=lambda rules, now: merged(
                on_parking_alerts(_alerted(alerts), rules, now), on_readings(readings, rules, now)
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
            decide=lambda rules, now: merged(
                on_parking_alerts(_alerted(alerts), rules, now),
                on_states(changes, rules, now),
                on_parking_reports(reports),
            ),
        )

    async def publish(self, changes: Sequence[Changed]) -> None:
        """After the commit: stream the changes."""
        await self.feed.publish(changes)
