"""Task changes to the Redis stream, after the transaction that made them committed."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from redis.exceptions import RedisError

from fleet.tasks.service import Changed, stream_entry
from telemetry.hotstate.store import HotState

log = logging.getLogger("fleetbed.tasks")


@dataclass
class TaskFeed:
    """Streams task changes; the database stays the record, so a Redis outage only delays
    apps to their next `?since=` poll."""

    hot: HotState

    async def publish(self, changes: Sequence[Changed]) -> None:
        """Append the changes to the task stream; a Redis failure is logged, not raised."""
        if not changes:
            return
        try:
            await self.hot.publish_task_changes([stream_entry(c) for c in changes])
        except (RedisError, OSError) as exc:
            log.warning("task changes not streamed: Redis unavailable", extra={"error": repr(exc)})
