"""A simulation run: the fleet advanced step by step, each step's batches posted.

Paced runs (`speed` > 0) follow `clock.PacedClock`: they start in the past by a lead and
catch up with real time, then keep pace with it; the loop wakes every `TICK_S` real
seconds. Runs as fast as possible (`speed` 0) step through a fixed simulated span that
ends when the run starts (or at `end_ms`), without waiting; given the same seed, span
and end they send the same requests.
"""

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from demo import city
from demo.city import Operator
from demo.fleet_plan import plan_fleet
from demo.simulator.citymap import CityMap
from demo.simulator.clock import PacedClock, SteppedClock
from demo.simulator.command_link import Executor, mqtt_commands, poll_commands
from demo.simulator.controls import Controls
from demo.simulator.crew import Crew
from demo.simulator.dispatch import Dispatch
from demo.simulator.gateway import Credentials, Gateway, RateCap
from demo.simulator.misbehaviour import Rates
from demo.simulator.pods import POD_MODES
from demo.simulator.rebalancing import VanOptions
from demo.simulator.report import Report, write_status
from demo.simulator.vans import Vans
from demo.simulator.vehicle import Environment
from demo.simulator.world import Provider, World

TICK_S = 0.5
STATUS_EVERY_S = 1.0
TIMEZONE = ZoneInfo("Europe/Stockholm")


@dataclass(frozen=True)
class Scenario:
    """The city the fleet lives in, and the operators whose fleets it drives."""

    cmap: CityMap
    operators: tuple[Operator, ...] = city.OPERATORS
    tz: ZoneInfo = TIMEZONE

    @classmethod
    def helsingborg(
        cls, geodata: Path = city.GEODATA, operators: Sequence[Operator] = city.OPERATORS
    ) -> "Scenario":
        """The demo city: Helsingborg's outline from `geodata`, its zones and hotspots."""
        ring = city.service_area_ring(geodata)
        return cls(CityMap.build(ring, city.ZONES, city.HOTSPOTS), tuple(operators))


@dataclass(frozen=True)
class RunOptions:
    """How to run: see `fleetbed simulate --help`."""

    seed: int = 1
    speed: float = 10.0
    vehicles: int = 300
    duration_s: float | None = None
    rate: float | None = None
    rates: Rates = field(default_factory=Rates)
    status_file: Path | None = None
    # As fast as possible: the simulated seconds per step, and when the span ends.
    step_s: float = 10.0
    end_ms: int | None = None
    trips_per_day: float = 8.0
    steady: bool = False
    max_batch: int = 5000
    # Post the providers' batches side by side (see `Gateway.parallel`).
    parallel: bool = True
    # How the gateways take vehicle commands: "off", "http" (long poll) or "mqtt".
    commands: str = "off"
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    # The operators' rebalancing vans (for those given a crew).
    vans: VanOptions = field(default_factory=VanOptions)


def wall_ms() -> int:
    """The real time in integer milliseconds."""
    return int(time.time() * 1000)


class Simulation:
    """One run against one server."""

    def __init__(
        self,
        options: RunOptions,
        scenario: Scenario,
        credentials: dict[str, Credentials],
        client: httpx.AsyncClient,
        now_ms: Callable[[], int] = wall_ms,
        crews: Mapping[str, Crew] | None = None,
        bookers: Mapping[str, str] | None = None,
    ) -> None:
        if options.speed < 0:
            raise ValueError("speed must be 0 (as fast as possible) or more")
        if options.speed == 0 and options.duration_s is None:
            raise ValueError("as fast as possible (speed 0) needs a duration")
        self.options = options
        self.now_ms = now_ms
        self.report = Report()
        self.gateway = Gateway(
            client, credentials, self.report, RateCap(options.rate), parallel=options.parallel
        )
        self.providers = [
            Provider(op.key, credentials[op.key].provider_id, op.mode)
            for op in scenario.operators
            if op.key in credentials
        ]
        keys = {p.key for p in self.providers}
        bookers = bookers or {}
        # Pods serve bookings only if their routes can reach them.
        self.dispatched = [
            op
            for op in scenario.operators
            if op.key in keys
            and op.mode in POD_MODES
            and op.key in bookers
            and options.commands != "off"
        ]
        self.fleet = [
            v for v in plan_fleet(options.vehicles, scenario.operators) if v.operator_key in keys
        ]
        self.env = Environment(
            scenario.cmap, scenario.tz, options.rates, options.trips_per_day, options.steady
        )
        self.paced: PacedClock | None = None
        self._paced_end_ms: int | None = None
        self.stepped: SteppedClock | None = None
        if options.speed == 0:
            assert options.duration_s is not None
            end = options.end_ms or now_ms()
            self.stepped = SteppedClock.ending(end, options.duration_s, options.step_s)
        else:
            self.paced = PacedClock.starting(now_ms(), options.speed, options.duration_s)
            # Fixed now: a resumed run ends as planned, having covered less.
            self._paced_end_ms = (
                None
                if options.duration_s is None
                else self.paced.sim_ms + round(options.duration_s * 1000)
            )
        self.world = self._world(self.start_ms)
        self._status_at = 0.0
        self.credentials = credentials
        self.client = client
        self.executor = Executor(self.controls)
        driven = [op for op in scenario.operators if op.key in keys]
        self.vans = Vans(
            client, driven, crews or {}, options.vans, self.report, now_ms, options.parallel
        )
        self.dispatch = Dispatch(
            client, self.dispatched, bookers, self.env, options.seed, self.report, now_ms
        )

    @property
    def start_ms(self) -> int:
        """The simulated time the run starts at (or has reached)."""
        clock = self.stepped or self.paced
        assert clock is not None
        return clock.sim_ms

    @property
    def end_ms(self) -> int | None:
        """The simulated time the run ends at; None: when interrupted."""
        if self.stepped is not None:
            return self.stepped.end_ms
        return self._paced_end_ms

    def _world(self, start_ms: int) -> World:
        self.report.sim_ms = start_ms
        return World(
            self.fleet,
            self.providers,
            self.env,
            seed=self.options.seed,
            start_ms=start_ms,
            max_batch=self.options.max_batch,
            dispatched={op.key for op in self.dispatched},
        )

    async def _resume(self) -> None:
        """Start a paced run no earlier than the newest data the server has of its vehicles,
        so that a restarted simulator moves every vehicle's timeline forward (it then
        covers less simulated time, still ending when planned)."""
        assert self.paced is not None
        latest = max([await self.gateway.latest_ms(p.key) for p in self.providers], default=0)
        resumed = min(latest + 1_000, self.now_ms(), self.end_ms or latest + 1_000)
        if resumed > self.paced.sim_ms:
            self.paced.sim_ms = resumed
            self.world = self._world(resumed)

    def controls(self, device_id: str) -> Controls | None:
        """The command state of a driven vehicle (None: not one of this run's)."""
        vehicle = self.world.by_device.get(device_id)
        return None if vehicle is None else vehicle.controls

    def _command_links(self, stop: asyncio.Event) -> list[asyncio.Task[None]]:
        wanted = [self.credentials[p.key] for p in self.providers]
        if self.options.commands == "http":
            return [
                asyncio.create_task(poll_commands(self.client, c, self.executor, stop))
                for c in wanted
            ]
        if self.options.commands == "mqtt":
            link = mqtt_commands(self.options.mqtt_url, wanted, self.executor, stop)
            return [asyncio.create_task(link)]
        return []

    def _next_time(self) -> int:
        if self.stepped is not None:
            return self.stepped.advance()
        assert self.paced is not None
        t = self.paced.advance(self.now_ms())
        return t if self.end_ms is None else min(t, self.end_ms)

    def _status(self, force: bool = False) -> None:
        path = self.options.status_file
        if path is None or (not force and time.monotonic() - self._status_at < STATUS_EVERY_S):
            return
        self._status_at = time.monotonic()
        write_status(path, self.report.status(self.world.tally(), self.world.states()))

    async def register(self) -> None:
        """Register every driven vehicle the server does not know yet."""
        for provider in self.providers:
            mine = [v for v in self.fleet if v.operator_key == provider.key]
            await self.gateway.register(provider.key, mine)

    async def run(self, stop: asyncio.Event | None = None) -> Report:
        """Register, then simulate until the duration is over or `stop` is set."""
        stop = stop or asyncio.Event()
        await self.register()
        if self.paced is not None:
            await self._resume()
        links_stop = asyncio.Event()
        links = self._command_links(links_stop)
        try:
            while not stop.is_set():
                t = self._next_time()
                await self.vans.advance(t, self.world)
                await self.dispatch.advance(t, self.world)
                await self.gateway.send(self.world.advance(t))
                self.report.sim_ms = t
                self._status()
                if self.end_ms is not None and t >= self.end_ms:
                    break
                if self.paced is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), TICK_S)
                else:
                    await asyncio.sleep(0)  # let a signal handler set `stop`
        finally:
            await self.vans.close()
            links_stop.set()
            for link in links:
                link.cancel()
            await asyncio.gather(*links, return_exceptions=True)
            # Late batches still held back go out now, late as they are.
            await self.gateway.send(self.world.held())
            self._status(force=True)
        return self.report

    def render(self) -> str:
        """The final report."""
        return self.report.render(self.world.tally())
