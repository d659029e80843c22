"""Which errors mean a dependency is unreachable for now, rather than a bad request or a bug."""

import asyncpg
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# SQLSTATEs of a server that is going away or refusing sessions: connection exceptions
# (class 08), shutdowns and start-ups (57P01-57P03), too many connections (53300).
_OUTAGE_SQLSTATE_PREFIXES = ("08", "57P01", "57P02", "57P03", "53300")

# OSError covers refused and reset connections and socket timeouts (TimeoutError is one);
# asyncpg's InterfaceError is a connection closed under the driver.
_OUTAGE_CLASSES: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.InterfaceError,
    PoolTimeout,
    DisconnectionError,
    RedisConnectionError,
    RedisTimeoutError,
)

# Local file errors are OSErrors too, but no sign of an unreachable service.
_LOCAL_OS_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError)

# Causes are followed this deep: SQLAlchemy wraps the adapter's error, which wraps asyncpg's.
_MAX_DEPTH = 5


def is_outage(exc: BaseException) -> bool:
    """Whether `exc`, or an error it wraps, says PostgreSQL or Redis cannot be reached."""
    seen: BaseException | None = exc
    for _ in range(_MAX_DEPTH):
        if seen is None:
            return False
        if isinstance(seen, _OUTAGE_CLASSES) and not isinstance(seen, _LOCAL_OS_ERRORS):
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        sqlstate = getattr(seen, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_OUTAGE_SQLSTATE_PREFIXES):
            return True
        wrapped = seen.orig if isinstance(seen, DBAPIError) else None
        seen = wrapped or seen.__cause__
    return False
