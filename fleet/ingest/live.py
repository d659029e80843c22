"""Feeding the Redis hot state after a commit, without ever failing an acknowledged write."""

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from redis.exceptions import RedisError

from telemetry.hotstate.store import HotState, PositionUpdate, StateUpdate

log = logging.getLogger("fleetbed.live")


@dataclass
class LiveFeed:
    """The hot state plus a flag saying it missed updates and needs a rebuild."""

    hot: HotState
    stale: bool = False

    async def _guarded(self, apply: Callable[[], Awaitable[int]]) -> None:
        try:
            await apply()
        except (RedisError, OSError) as exc:
            # History is the record; the hot state catches up by rebuild.
            self.stale = True
            log.warning("hot state update failed; marked stale", extra={"error": repr(exc)})

    async def positions(self, provider_id: uuid.UUID, updates: Sequence[PositionUpdate]) -> None:
        """Apply position updates, or mark the hot state stale."""
        if updates:
            await self._guarded(lambda: self.hot.apply_positions(provider_id, updates))

    async def states(self, provider_id: uuid.UUID, updates: Sequence[StateUpdate]) -> None:
        """Apply state updates, or mark the hot state stale."""
        if updates:
            await self._guarded(lambda: self.hot.apply_states(provider_id, updates))
