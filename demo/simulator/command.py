"""`fleetbed simulate`: keys and city from files, a run until done or interrupted, a report."""

import asyncio
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.core.errors import InvalidInput
from demo.keys_file import DemoKeys, read_keys_file
from demo.simulator.crew import Crew
from demo.simulator.gateway import Credentials
from demo.simulator.pods import POD_MODES
from demo.simulator.runner import RunOptions, Scenario, Simulation

TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Target:
    """Where the server is and the files describing the demo city."""

    base_url: str
    keys: Path
    geodata: Path


def _keys(path: Path) -> DemoKeys:
    keys = read_keys_file(path)
    if keys is None:
        raise InvalidInput(f"no keys file at {path}: run 'fleetbed demo seed' first (or --keys)")
    return keys


def credentials_from(path: Path) -> dict[str, Credentials]:
    """The gateway credentials of each operator in the keys file `fleetbed demo seed` wrote."""
    keys = _keys(path)
    found = {
        name: Credentials(str(op.provider_id), op.gateway_key)
        for name, op in keys.providers.items()
        if op.gateway_key
    }
    if not found:
        raise InvalidInput(f"{path} holds no gateway keys: run 'fleetbed demo seed' again")
    return found


def crews_from(path: Path) -> dict[str, Crew]:
    """The manager and field agent keys of each operator in the keys file that has both:
    the crews of the rebalancing vans."""
    return {
        name: Crew(op.manager_key, op.agent_key)
        for name, op in _keys(path).providers.items()
        if op.manager_key and op.agent_key
    }


def bookers_from(path: Path) -> dict[str, str]:
    """The manager key of each pod operator in the keys file: its customers book with it."""
    return {
        name: op.manager_key
        for name, op in _keys(path).providers.items()
        if op.mode in POD_MODES and op.manager_key
    }


def scenario_from(geodata: Path) -> Scenario:
    """The Helsingborg scenario, or a clear error when the outline file is missing."""
    if not geodata.is_file():
        raise InvalidInput(
            f"no geodata at {geodata} (Helsingborg's outline, from ../shared/geodata); "
            "pass --geodata PATH"
        )
    return Scenario.helsingborg(geodata)


async def _run(simulation: Simulation) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)

    def interrupted() -> None:
        stop.set()
        # A second Ctrl-C is not swallowed: it stops at once.
        for sig in signals:
            loop.remove_signal_handler(sig)

    for sig in signals:
        loop.add_signal_handler(sig, interrupted)
    try:
        await simulation.run(stop)
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


async def _simulate(options: RunOptions, target: Target) -> int:
    credentials = credentials_from(target.keys)
    scenario = scenario_from(target.geodata)
    async with httpx.AsyncClient(base_url=target.base_url, timeout=TIMEOUT_S) as client:
        simulation = Simulation(
            options,
            scenario,
            credentials,
            client,
            crews=crews_from(target.keys),
            bookers=bookers_from(target.keys),
        )
        try:
            await _run(simulation)
        except httpx.TransportError as exc:
            print(f"fleetbed simulate: cannot reach {target.base_url}: {exc!r}", file=sys.stderr)
            return 1
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            hint = " (is the keys file from this server's seed?)" if status in (401, 403) else ""
            print(
                f"fleetbed simulate: {exc.request.url.path} answered {status}{hint}",
                file=sys.stderr,
            )
            return 1
    print(simulation.render())
    return 0 if simulation.report.ok else 1


def simulate(options: RunOptions, target: Target) -> int:
    """Run the simulator; 0 if the server took everything valid, 1 if it refused any."""
    return asyncio.run(_simulate(options, target))
