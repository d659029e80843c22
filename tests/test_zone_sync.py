"""Zone change announcements reach the processes of one deployment, not its neighbours."""

from redis.asyncio import Redis

from app.zone_sync import announce_change, channel
from tests.config import TEST_REDIS_URL


def _on_db(db: int) -> Redis:
    return Redis.from_url(f"{TEST_REDIS_URL.rsplit('/', 1)[0]}/{db}")


async def _heard(listener: Redis, speaker: Redis) -> bool:
    """Whether `listener`'s deployment hears a change announced through `speaker`."""
    pubsub = listener.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel(listener))
    try:
        await announce_change(speaker)
        # The subscription's own confirmation comes first and reads as None: poll a while.
        for _ in range(10):
            if await pubsub.get_message(timeout=0.1) is not None:
                return True
        return False
    finally:
        await pubsub.aclose()


async def test_announcements_stay_within_a_redis_database() -> None:
    listener, neighbour, colleague = _on_db(7), _on_db(6), _on_db(7)
    try:
        assert channel(listener) != channel(neighbour)
        assert await _heard(listener, colleague)
        assert not await _heard(listener, neighbour)
    finally:
        for client in (listener, neighbour, colleague):
            await client.aclose()
