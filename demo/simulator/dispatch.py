"""Pod dispatch on the simulated clock: each pod operator's customers book through the
API, and each pod takes the routes its gateway received.

Bookings are posted (`POST /v1/dispatch/requests`, with the operator's manager key) as
the simulated clock reaches them; a 409 is a refusal, counted by its reason. The routes
come as `set_route` commands through the gateways' command link, which leaves each
pod's newest one in its controls; before the world moves on, a pod given a newer one
takes it, its times moved from the server's clock to the simulated one. A faster run's
simulated clock is behind the server's, so a route is replayed from the simulated time
it reached the pod, as the vans replay their plans.

A booking that fails is counted and kept in the report; it never stops the simulation.
"""

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from demo.city import Operator
from demo.simulator import demand
from demo.simulator.bookings import Booking, BookingStream, ServiceTally
from demo.simulator.pod import DispatchedPod
from demo.simulator.pods import PICKUP
from demo.simulator.report import Report
from demo.simulator.vehicle import Environment
from demo.simulator.world import World

log = logging.getLogger("fleetbed.simulator.dispatch")

# The first bookings wait until the server has seen where the pods are.
FIRST_BOOKING_MS = 2 * 60_000
PATH = "/v1/dispatch/requests"


@dataclass
class Customers:
    """One pod operator's customers: their bookings, and when each wanted its pickup."""

    operator: Operator
    key: str = field(repr=False)
    tally: ServiceTally
    stream: BookingStream | None = None
    wanted_ms: dict[str, int] = field(default_factory=dict)  # by trip id


class Dispatch:
    """The pod operators' customers and pods; `advance` runs them up to a simulated time."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        operators: Sequence[Operator],
        keys: Mapping[str, str],
        env: Environment,
        seed: int,
        report: Report,
        now_ms: Callable[[], int],
    ) -> None:
        self.client = client
        self.env = env
        self.seed = seed
        self.now_ms = now_ms
        self.customers = [
            Customers(op, keys[op.key], report.dispatch.setdefault(op.key, ServiceTally()))
            for op in operators
        ]

    async def advance(self, t: int, world: World) -> None:
        """Hand the pods their newer routes, post the bookings due by `t` and count what
        the pods served (before the world is advanced to `t`)."""
        server_ahead_ms = self.now_ms() - t
        for customers in self.customers:
            pods = world.pods(customers.operator.key)
            for pod in pods:
                self._take_route(pod, server_ahead_ms, t)
                self._count_served(customers, pod)
            if customers.stream is None:
                customers.stream = self._stream(customers.operator, len(pods), t)
            for booking in customers.stream.due(t):
                await self._book(customers, booking, server_ahead_ms)
            tally = customers.tally
            tally.pods = len(pods)
            tally.busy = sum(p.work.next_stop() is not None for p in pods)
            tally.carrying = sum(bool(p.work.aboard) for p in pods)
            tally.aboard = sum(len(p.work.aboard) for p in pods)

    def _stream(self, operator: Operator, pods: int, start_ms: int) -> BookingStream:
        env = self.env

        def per_hour(ts_ms: int) -> float:
            return pods * demand.trips_per_hour(ts_ms, env.tz, env.trips_per_day, env.steady)

        # Simulation, not secrets: a seeded generator makes runs repeatable.
        rng = random.Random(f"{self.seed}/bookings/{operator.key}")  # noqa: S311
        return BookingStream(
            operator.mode, env.cmap, env.tz, rng, per_hour, start_ms + FIRST_BOOKING_MS
        )

    @staticmethod
    def _take_route(pod: DispatchedPod, server_ahead_ms: int, t: int) -> None:
        route = pod.controls.route
        if route is not None and route.version > pod.version:
            pod.follow(route.shifted(-server_ahead_ms), t)

    @staticmethod
    def _count_served(customers: Customers, pod: DispatchedPod) -> None:
        tally = customers.tally
        for served in pod.served:
            trip_id = served.stop.trip_id
            if served.stop.kind != PICKUP:
                tally.delivered += 1
                customers.wanted_ms.pop(trip_id, None)
                continue
            tally.picked_up += 1
            wanted = customers.wanted_ms.get(trip_id)
            if wanted is not None:
                tally.waits_s.append((served.start_ms - wanted) / 1000)
        pod.served.clear()

    def _problem(self, customers: Customers, what: str) -> None:
        log.warning("dispatch %s: %s", customers.operator.key, what)
        customers.tally.problem(what)

    async def _book(self, customers: Customers, booking: Booking, server_ahead_ms: int) -> None:
        """Post a booking; a refusal is counted by its reason."""
        headers = {"Authorization": f"Bearer {customers.key}"}
        try:
            response = await self.client.post(
                PATH, json=booking.body(server_ahead_ms), headers=headers
            )
        except httpx.HTTPError as exc:
            self._problem(customers, f"POST {PATH}: no answer ({exc!r})")
            return
        body = response.json() if response.headers.get("content-type", "").endswith("json") else {}
        if response.status_code in (200, 201):
            customers.tally.booked += 1
            customers.wanted_ms[body["trip_id"]] = booking.wanted_ms
        elif response.status_code == 409 and "reason" in body:
            customers.tally.refused[body["reason"]] += 1
        else:
            self._problem(
                customers, f"POST {PATH}: HTTP {response.status_code} {response.text[:300]}"
            )
