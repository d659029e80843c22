"""Command changes on Redis: the stream apps follow, and the wake-up of waiting gateways.

Both are written after the change is committed, so a woken gateway finds the command.
"""

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from fleet.commands.service import Change
from telemetry.hotstate import keys

# The id before every entry of a stream.
START = "0-0"


async def publish(redis: Redis, changes: Sequence[Change]) -> None:
    """Append changes to the command stream, and wake the gateways of new commands."""
    if not changes:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for change in changes:
            pipe.xadd(
                keys.COMMAND_STREAM,
                change.stream_entry(),  # type: ignore[arg-type]
                maxlen=keys.COMMAND_STREAM_MAXLEN,
                approximate=True,
            )
        due = {c.provider_id for c in changes if c.to_state == "pending"}
        wakeups = [keys.command_wakeup_key(p) for p in due] + (
            [keys.ALL_COMMANDS_WAKEUP] if due else []
        )
        for key in wakeups:
            pipe.xadd(key, {"due": "1"}, maxlen=keys.COMMAND_WAKEUP_MAXLEN, approximate=True)
        await pipe.execute()


async def wakeup_cursor(redis: Redis, key: str) -> str:
    """The id of the latest wake-up on `key`: wait for those after it."""
    last = await redis.xrevrange(key, count=1)
    if not last:
        return START
    entry_id = last[0][0]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


async def wait_for_wakeup(redis: Redis, key: str, cursor: str, timeout_s: float) -> str | None:
    """Block until a wake-up on `key` after `cursor` (its id) or the timeout (None)."""
    found: Any = await redis.xread({key: cursor}, count=1, block=max(1, int(timeout_s * 1000)))
    if not found:
        return None
    entry_id = found[0][1][-1][0]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
