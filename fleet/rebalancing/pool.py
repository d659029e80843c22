"""Planning off the event loop: `plan` in a worker process, bounded in time.

The server runs asyncio, so the workers are started by a fork server, never forked from
it. A problem and its plan cross the process boundary pickled.
"""

import asyncio
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor

from fleet.rebalancing.model import Plan, Problem
from fleet.rebalancing.planner import plan

# Beyond the search's own limit: starting a worker, building the model, the exact
# enumeration and turning the routes into stops.
MARGIN_S = 15.0


def planning_executor(workers: int = 1) -> ProcessPoolExecutor:
    """A pool of planning processes started by a fork server."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"))


async def plan_off_loop(problem: Problem, *, executor: Executor) -> Plan:
    """`plan(problem)` in the pool; TimeoutError after its time limit and a margin."""
    loop = asyncio.get_running_loop()
    work = loop.run_in_executor(executor, plan, problem)
    return await asyncio.wait_for(work, problem.time_limit_s + MARGIN_S)
