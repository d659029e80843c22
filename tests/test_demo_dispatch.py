"""The simulator's pods against a real `fleetbed serve`: riders book rides through the
API with the manager's key, each pod takes its `set_route` over the HTTP long poll and
acks it, drives its stops, and its MDS events bring a request to `delivered`.

A real server, not the app in-process: the gateway's long poll runs beside the bookings
and the batches, which one shared test connection could not carry.
"""

import asyncio
import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.auth import Mode
from app.resources import make_engine
from demo import city
from demo.simulator.gateway import Credentials
from demo.simulator.misbehaviour import Rates
from demo.simulator.report import Report
from demo.simulator.runner import RunOptions, Scenario, Simulation
from telemetry.partitions import PartitionPolicy, maintain_partitions
from tests.conftest import make_settings
from tests.processes import ENV, create_key, fleetbed, serving
from tests.sql import drop_provider
from tests.test_simulator import GEODATA

RUN_LIMIT_S = 120
PASSENGERS = next(op for op in city.OPERATORS if op.mode is Mode.PASSENGER_SERVICES)


@pytest.fixture
def provider() -> Iterator[str]:
    """A passenger-services provider made with the CLI, deleted with all it holds after."""
    name = f"pods-{uuid.uuid4().hex[:8]}"
    result = fleetbed("admin", "create-provider", "--name", name, "--mode", "passenger-services")
    assert result.returncode == 0, result.stderr
    provider_id = result.stdout.strip()
    yield provider_id
    drop_provider(uuid.UUID(provider_id))


async def yesterdays_partitions() -> None:
    """A run just after midnight reaches back into yesterday (committed, as conftest's)."""
    engine = make_engine(make_settings())
    try:
        yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
        await maintain_partitions(
            engine, PartitionPolicy(days_ahead=1, retention_days=None), yesterday
        )
    finally:
        await engine.dispose()


async def until_delivered(
    simulation: Simulation, key: str, stop: asyncio.Event, run: "asyncio.Task[Report]"
) -> None:
    """Stop the run once a pod has dropped a rider off (or the run ended without one)."""
    while not simulation.report.dispatch[key].delivered and not run.done():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    stop.set()


async def get(client: httpx.AsyncClient, path: str, key: str) -> Any:
    response = await client.get(path, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_booked_ride_is_routed_to_a_pod_whose_events_deliver_it(
    tmp_path: Path, provider: str
) -> None:
    if not GEODATA.is_file():
        pytest.skip(f"no Helsingborg outline at {GEODATA}")
    await yesterdays_partitions()
    _, gateway = create_key(provider, "gateway")
    _, manager = create_key(provider, "operator_manager")
    operator = dataclasses.replace(PASSENGERS, key=f"printpod-{provider[:8]}", share=1.0)
    options = RunOptions(
        seed=2,
        # Paced, not as fast as possible: the server plans on its own clock, so the
        # simulated one must keep to a fixed ratio of it, whatever the machine's load.
        speed=300,
        # One pod: the server's re-optimiser, moving requests between pods, cannot
        # leave the pod serving a request the server no longer expects it to.
        vehicles=1,
        # Long enough for a first delivery even when new bookings are pooled before it;
        # the run stops at that delivery.
        duration_s=3 * 3600,
        step_s=10,
        trips_per_day=144,  # 6 bookings an hour
        steady=True,
        rates=Rates.uniform(0.0),
        commands="http",
    )
    with serving(ENV, tmp_path / "server.log") as (base, _):
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            simulation = Simulation(
                options,
                Scenario.helsingborg(GEODATA, [operator]),
                {operator.key: Credentials(provider, gateway)},
                client,
                bookers={operator.key: manager},
            )
            stop = asyncio.Event()
            run = asyncio.create_task(simulation.run(stop))
            # A run that delivers nothing must fail, not hang the suite.
            async with asyncio.timeout(RUN_LIMIT_S):
                await asyncio.gather(run, until_delivered(simulation, operator.key, stop, run))
            delivered = await get(client, "/v1/dispatch/requests?state=delivered", manager)
            assert delivered["data"], simulation.render()
            [request] = delivered["data"]
            device = request["device_id"]
            commands = await get(client, f"/v1/vehicles/{device}/commands?limit=100", manager)

    report = simulation.report
    assert report.ok, simulation.render()
    tally = report.dispatch[operator.key]
    assert tally.problem_count == 0, tally.problems
    assert tally.booked >= tally.picked_up >= tally.delivered == 1
    assert len(tally.waits_s) == tally.picked_up
    assert device in {str(v.device_id) for v in simulation.fleet}
    assert [(h["from_state"], h["to_state"]) for h in request["history"]] == [
        (None, "assigned"),
        ("assigned", "picked_up"),
        ("picked_up", "delivered"),
    ]
    routes = [c for c in commands["commands"] if c["kind"] == "set_route"]
    assert routes, commands
    # Each route was taken and acked, or superseded by a newer one before it was; the
    # newest may still be waiting when the run stops.
    newest = max(routes, key=lambda c: c["created_at"])
    assert {c["state"] for c in routes if c is not newest} <= {"done", "expired"}, routes
    assert newest["state"] in {"done", "pending", "delivered"}, newest
    assert any(s["trip_id"] == request["trip_id"] for c in routes for s in c["params"]["stops"])
