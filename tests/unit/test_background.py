"""Retry backoff and task health of background work, and which errors are outages."""

import asyncio
import contextlib
import logging

import asyncpg
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.background import Supervisor, TaskHealth, backoff_s, health_check
from app.core.outages import is_outage


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    waits = [backoff_s(n, base_s=0.5, cap_s=5) for n in range(1, 8)]
    assert waits == [0.5, 1, 2, 4, 5, 5, 5]
    assert backoff_s(10_000, base_s=0.5, cap_s=5) == 5


def _health(**fields: object) -> TaskHealth:
    values: dict[str, object] = {
        "name": "zone-sync",
        "period_s": 2.0,
        "started_at": 100.0,
        "min_stale_after_s": 10.0,
    }
    values.update(fields)
    return TaskHealth(**values)  # type: ignore[arg-type]


def test_a_task_fails_readiness_only_after_max_of_three_periods_and_the_minimum() -> None:
    health = _health(last_success=200.0, last_error="OSError: refused")
    assert health_check(health, died=None, now=209.0).ok
    stale = health_check(health, died=None, now=211.0)
    assert not stale.ok
    assert stale.name == "task:zone-sync"
    assert "last success for 11 s" in stale.detail
    assert "OSError: refused" in stale.detail
    assert _health(period_s=20.0, last_success=200.0).stale_after_s == 60.0


def test_a_task_that_never_succeeded_counts_from_its_start_and_a_dead_one_fails() -> None:
    assert health_check(_health(), died=None, now=105.0).detail == "starting"
    assert not health_check(_health(), died=None, now=111.0).ok
    dead = health_check(_health(last_success=200.0), died="Doom()", now=200.5)
    assert not dead.ok
    assert dead.detail == "died: Doom()"


def _wrapped(orig: BaseException, *, invalidated: bool = False) -> DBAPIError:
    return DBAPIError("SELECT 1", None, orig, connection_invalidated=invalidated)


def _driver_error(cause: BaseException) -> Exception:
    # SQLAlchemy's asyncpg adapter raises its own error from asyncpg's.
    error = Exception("adapter error")
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "refused"),
        OSError("Multiple exceptions: [Errno 111] Connect call failed"),
        TimeoutError(),
        PoolTimeout("QueuePool limit reached"),
        _wrapped(Exception("closed"), invalidated=True),
        _wrapped(_driver_error(asyncpg.exceptions.ConnectionDoesNotExistError("gone"))),
        _wrapped(_driver_error(asyncpg.exceptions.CannotConnectNowError("starting up"))),
        _wrapped(_driver_error(asyncpg.exceptions.TooManyConnectionsError("too many"))),
        asyncpg.exceptions.InterfaceError("connection is closed"),
        RedisConnectionError("Connection refused"),
    ],
)
def test_connection_class_errors_are_outages(error: BaseException) -> None:
    assert is_outage(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad"),
        FileNotFoundError("missing.txt"),
        IntegrityError("INSERT", None, Exception("duplicate key")),
        _wrapped(_driver_error(asyncpg.exceptions.UniqueViolationError("duplicate"))),
    ],
)
def test_other_errors_are_not_outages(error: BaseException) -> None:
    assert not is_outage(error)


async def test_supervisor_retries_a_failing_step_until_it_succeeds_and_closes_on_stop() -> None:
    calls: list[str] = []
    recovered = asyncio.Event()

    async def flaky() -> None:
        calls.append("step")
        if len(calls) <= 2:
            raise OSError("refused")
        recovered.set()

    async def close() -> None:
        calls.append("closed")

    supervisor = Supervisor(max_backoff_s=0.05, min_stale_after_s=60)
    supervisor.start("flaky", flaky, interval_s=0.01, close=close)
    await asyncio.wait_for(recovered.wait(), 10)
    [check] = supervisor.checks()
    assert check.ok, check
    assert check.detail.startswith("last success")
    await supervisor.stop()
    assert calls[:3] == ["step"] * 3
    assert calls[-1] == "closed"
    assert supervisor.checks() == []


async def test_stop_ends_a_task_whose_step_swallowed_the_cancellation() -> None:
    # What asyncio.wait_for does on Python 3.11 when the cancellation lands as its inner
    # call finishes (redis-py wraps every send in one): the step returns normally.
    inside = asyncio.Event()
    steps: list[int] = []
    closed = asyncio.Event()

    async def swallowing() -> None:
        steps.append(1)
        inside.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)

    async def close() -> None:
        closed.set()

    supervisor = Supervisor()
    supervisor.start("swallowing", swallowing, interval_s=0.01, close=close)
    await asyncio.wait_for(inside.wait(), 5)
    await asyncio.wait_for(supervisor.stop(), 5)
    assert closed.is_set()
    assert steps == [1]


async def test_stop_gives_up_on_a_task_that_refuses_to_end_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    inside = asyncio.Event()
    release = asyncio.Event()
    closed = asyncio.Event()

    async def stubborn() -> None:
        inside.set()
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(3600)

    async def close() -> None:
        closed.set()

    supervisor = Supervisor(stop_timeout_s=0.3, recancel_s=0.05)
    supervisor.start("stubborn", stubborn, interval_s=0.01, close=close)
    [(task, _)] = supervisor._tasks.values()
    await asyncio.wait_for(inside.wait(), 5)
    with caplog.at_level(logging.ERROR, logger="fleetbed.background"):
        await asyncio.wait_for(supervisor.stop(), 5)
    assert closed.is_set()
    assert not task.done()
    assert [r.task for r in caplog.records] == ["fleetbed-stubborn"]  # type: ignore[attr-defined]
    assert caplog.records[0].getMessage() == "background task did not stop"
    release.set()
    task.cancel()
    await asyncio.wait({task}, timeout=5)
    assert task.done()
