"""Background work of one API process: periodic steps that survive faults, and their health.

Each task repeats one async step. A step that raises is logged and retried after an
exponential backoff (capped); the task never ends on its own. Every task records when its
step last succeeded, so `/readyz` can name a task that is stuck failing, or that died.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from app.readiness import Check

log = logging.getLogger("fleetbed.background")

Step = Callable[[], Awaitable[None]]


def backoff_s(failures: int, *, base_s: float, cap_s: float) -> float:
    """Wait before retry number `failures` (1 for the first): doubling from `base_s`, capped."""
    return min(cap_s, base_s * 2.0 ** min(failures - 1, 32))


@dataclass
class TaskHealth:
    """What one background task last did; times are on the supervisor's clock."""

    name: str
    period_s: float
    started_at: float
    # However short the period, readiness allows this long between successes, so that
    # one slow step (a rebuild, a reload of many zones) does not flap readiness.
    min_stale_after_s: float
    last_success: float | None = None
    last_error: str | None = None
    failures: int = 0

    @property
    def stale_after_s(self) -> float:
        """How long the task may go without a success before it counts as failing."""
        return max(3 * self.period_s, self.min_stale_after_s)


def health_check(health: TaskHealth, *, died: str | None, now: float) -> Check:
    """Readiness of one task: failing if it died or has not succeeded recently."""
    name = f"task:{health.name}"
    if died is not None:
        return Check(name, False, f"died: {died}"[:200])
    since = health.last_success if health.last_success is not None else health.started_at
    quiet = now - since
    if quiet > health.stale_after_s:
        what = "no success" if health.last_success is None else "last success"
        error = f"; last error: {health.last_error}" if health.last_error else ""
        return Check(name, False, f"{what} for {quiet:.0f} s{error}"[:200])
    if health.last_success is None:
        return Check(name, True, "starting")
    return Check(name, True, f"last success {quiet:.1f} s ago")


@dataclass
class Supervisor:
    """Starts periodic tasks, tracks their health, and stops them without ever raising."""

    max_backoff_s: float = 30.0
    min_stale_after_s: float = 15.0
    # How long stop() waits for the tasks; one still running then is logged and left.
    stop_timeout_s: float = 10.0
    # Between repeated cancellations of a task that is still running.
    recancel_s: float = 0.2
    clock: Callable[[], float] = time.monotonic
    _tasks: dict[str, tuple[asyncio.Task[None], TaskHealth]] = field(default_factory=dict)
    _closers: list[Step] = field(default_factory=list)
    _stopping: bool = False

    def start(
        self,
        name: str,
        step: Step,
        *,
        interval_s: float,
        period_s: float | None = None,
        close: Step | None = None,
    ) -> None:
        """Run `step` with `interval_s` seconds between runs until stopped, retrying failures.

        `period_s` (default `interval_s`) is how often the step does its real work, for a
        step that paces itself (waits for messages): readiness and backoff are scaled by it.
        `close` releases what the steps hold, once the task has stopped.
        """
        health = TaskHealth(
            name, period_s or interval_s, self.clock(), min_stale_after_s=self.min_stale_after_s
        )
        task = asyncio.create_task(self._run(step, health, interval_s), name=f"fleetbed-{name}")
        self._tasks[name] = (task, health)
        if close is not None:
            self._closers.append(close)

    async def _run(self, step: Step, health: TaskHealth, interval_s: float) -> None:
        # The flag, not only the cancellation, ends the loop: on Python 3.11 a library's
        # `asyncio.wait_for` (redis-py wraps every send in one) can swallow a cancellation
        # that lands as its inner call finishes, and the step then returns normally.
        while not self._stopping:
            try:
                await step()
            except Exception as exc:
                health.failures += 1
                health.last_error = f"{type(exc).__name__}: {exc}"[:200]
                # Retries start fast and slow down, but never wait much beyond the period.
                delay = backoff_s(
                    health.failures,
                    base_s=min(max(health.period_s, 0.1), 1.0),
                    cap_s=min(self.max_backoff_s, max(health.period_s, 1.0)),
                )
                log.warning(
                    "background task failed; retrying",
                    extra={
                        "task": health.name,
                        "failures": health.failures,
                        "retry_in_s": round(delay, 2),
                        "error": repr(exc)[:300],
                    },
                )
                await asyncio.sleep(delay)
                continue
            if health.failures:
                log.info(
                    "background task recovered",
                    extra={"task": health.name, "after_failures": health.failures},
                )
            health.failures, health.last_error = 0, None
            health.last_success = self.clock()
            await asyncio.sleep(interval_s)

    def checks(self) -> list[Check]:
        """One readiness check per task."""
        now = self.clock()
        return [
            health_check(health, died=_death(task), now=now)
            for task, health in self._tasks.values()
        ]

    async def stop(self) -> None:
        """Cancel every task, wait for them and run their closers; a task that died, or a
        closer that fails, is logged, not raised, and none keeps the process from stopping.

        A task still running shortly after its cancellation is cancelled again (its first
        one may have been swallowed); after `stop_timeout_s` it is logged and left.
        """
        self._stopping = True
        tasks = [task for task, _ in self._tasks.values()]
        running = set(tasks)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stop_timeout_s
        while running and loop.time() < deadline:
            for task in running:
                task.cancel()
            _, running = await asyncio.wait(running, timeout=self.recancel_s)
        for task in tasks:
            if task in running:
                log.error("background task did not stop", extra={"task": task.get_name()})
            elif not task.cancelled() and task.exception() is not None:
                log.error(
                    "background task had died",
                    extra={"task": task.get_name(), "error": repr(task.exception())},
                )
        self._tasks.clear()
        for close in self._closers:
            try:
                await close()
            except Exception as exc:
                log.warning("background task did not close cleanly", extra={"error": repr(exc)})
        self._closers.clear()


def _death(task: asyncio.Task[None]) -> str | None:
    """Why a task ended by itself, or None while it runs or once it was cancelled."""
    if not task.done() or task.cancelled():
        return None
    exc = task.exception()
    return repr(exc) if exc is not None else "returned"
