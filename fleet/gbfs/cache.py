"""Built GBFS files, served until their ttl runs out; one build at a time per file."""

import asyncio
import gzip
import hashlib
import math
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

# Fast enough to compress a city's vehicle_status (MBs) within a build, and about 8x smaller.
GZIP_LEVEL = 5


@dataclass(frozen=True)
class CachedFile:
    """A file's bytes (plain and gzipped), its entity tag and when it must be built again
    (monotonic)."""

    body: bytes
    gzipped: bytes
    etag: str
    expires: float

    def max_age(self, now: float) -> int:
        """Seconds a client may keep it: what is left of its ttl."""
        return max(0, math.ceil(self.expires - now))


def entity_tag(body: bytes) -> str:
    """A strong ETag of the bytes."""
    return f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


@dataclass
class FeedCache:
    """Files by key. A burst of readers of a stale file waits for one build; a build that
    fails is not remembered, so the next reader tries again."""

    max_entries: int = 10_000
    clock: Callable[[], float] = time.monotonic
    builds: int = 0
    _files: dict[Hashable, CachedFile] = field(default_factory=dict)
    _building: dict[Hashable, asyncio.Future[CachedFile]] = field(default_factory=dict)

    async def get(
        self, key: Hashable, build: Callable[[], Awaitable[tuple[bytes, int]]]
    ) -> CachedFile:
        """The file under `key`, built by `build` (bytes and ttl) when absent or stale."""
        hit = self._files.get(key)
        if hit is not None and hit.expires > self.clock():
            return hit
        pending = self._building.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[CachedFile] = asyncio.get_running_loop().create_future()
        self._building[key] = future
        try:
            self.builds += 1
            body, ttl = await build()
            # mtime 0: the same bytes give the same gzip, in every process.
            packed = gzip.compress(body, GZIP_LEVEL, mtime=0)
            built = CachedFile(body, packed, entity_tag(body), self.clock() + ttl)
            if len(self._files) >= self.max_entries:
                self._files.clear()
            self._files[key] = built
            future.set_result(built)
            return built
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # waiters get it; nobody else must be warned of it
            raise
        finally:
            del self._building[key]

    def forget(self, matches: Callable[[Hashable], bool]) -> None:
        """Drop the files whose keys match (a system's settings changed)."""
        for key in [k for k in self._files if matches(k)]:
            del self._files[key]
