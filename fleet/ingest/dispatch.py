"""Dispatch on the events path: pods' events move the requests they name, in the batch's
transaction; the pods' new schedules are announced after the commit."""

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Mode
from fleet.commands.service import Change
from fleet.dispatch.pods import DISPATCHABLE_MODES
from fleet.dispatch.service import on_events
from fleet.events.schema import Event
from telemetry.hotstate.store import HotState


@dataclass
class DispatchEvents:
    """Requests followed through their pods' MDS events."""

    hot: HotState
    # Sends the new routes and asks the re-optimiser for a round (Reoptimiser.announce).
    announce: Callable[[Sequence[Change]], Awaitable[None]]

    async def on_events(
        self,
        session: AsyncSession,
        *,
        provider_id: uuid.UUID,
        mode: Mode,
        events: Sequence[Event],
    ) -> list[Change]:
        """State changes of the requests the events name; their pods' new routes."""
        if mode not in DISPATCHABLE_MODES:
            return []
        return await on_events(
            session, self.hot, provider_id=provider_id, events=events, now=datetime.now(UTC)
        )

    async def publish(self, changes: Sequence[Change]) -> None:
        """Wake the pods' gateways for their new routes, once committed."""
        if changes:
            await self.announce(changes)
