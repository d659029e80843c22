"""Catching the live state up: rebuilt from PostgreSQL when it missed updates or Redis lost it."""

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.ingest.live import LiveFeed
from fleet.live.rebuild import rebuild_all

log = logging.getLogger("fleetbed.live")


async def catch_up(live: LiveFeed, sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    """Rebuild the live state when it missed updates or Redis lost it; True if rebuilt."""
    if not live.stale and await live.hot.intact():
        return False
    # Cleared first: a failure during the rebuild marks it stale again.
    live.stale = False
    async with sessionmaker() as session:
        rebuilt = await rebuild_all(session, live.hot)
    await live.hot.mark_intact()
    log.info("hot state rebuilt", extra={"providers": len(rebuilt)})
    return True
