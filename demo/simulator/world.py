"""The simulated fleet as a whole: every vehicle advanced to a time, and its batches (pure)."""

import random
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from app.core.auth import Mode
from demo.fleet_plan import PlannedVehicle
from demo.simulator.batches import Batch, Batcher, Outbox
from demo.simulator.pod import DispatchedPod
from demo.simulator.rebalancing import VanMove
from demo.simulator.vehicle import Environment, VehicleSim


@dataclass(frozen=True)
class Provider:
    """A provider the simulator drives vehicles for: the operator's key, id and mode."""

    key: str
    provider_id: str
    mode: Mode


class World:
    """Every simulated vehicle with the outbox and batcher of its provider; the vehicles
    of the `dispatched` operators (keys) are pods serving their dispatcher's routes."""

    def __init__(
        self,
        fleet: Sequence[PlannedVehicle],
        providers: Sequence[Provider],
        env: Environment,
        *,
        seed: int,
        start_ms: int,
        max_batch: int,
        dispatched: Collection[str] = (),
    ) -> None:
        by_key = {p.key: p for p in providers}
        self.providers = list(providers)
        self.vehicles = [
            (DispatchedPod if v.operator_key in dispatched else VehicleSim)(
                v,
                by_key[v.operator_key].provider_id,
                by_key[v.operator_key].mode,
                env,
                seed,
                start_ms,
            )
            for v in fleet
        ]
        self.by_device = {v.device_id: v for v in self.vehicles}
        self.outboxes = {p.key: Outbox() for p in providers}
        # Simulation, not secrets: seeded generators make runs repeatable.
        rngs = {p.key: random.Random(f"{seed}/batches/{p.key}") for p in providers}  # noqa: S311
        self.batchers = {
            p.key: Batcher(p.key, env.rates, rngs[p.key], max_batch) for p in providers
        }

    def advance(self, until_ms: int) -> list[Batch]:
        """Live up to `until_ms`; the batches every provider posts now, provider by provider."""
        for vehicle in self.vehicles:
            vehicle.advance(until_ms, self.outboxes[vehicle.planned.operator_key])
        return [
            batch
            for p in self.providers
            for batch in self.batchers[p.key].drain(self.outboxes[p.key], until_ms)
        ]

    def carry(self, move: VanMove) -> bool:
        """Hand a vehicle to a rebalancing van at `move.picked_ms`; False when it is not
        one of this world's or not standing idle then."""
        vehicle = self.by_device.get(move.device_id)
        if vehicle is None:
            return False
        vehicle.advance(move.picked_ms, self.outboxes[vehicle.planned.operator_key])
        return vehicle.carry(move)

    def pods(self, operator_key: str) -> list[DispatchedPod]:
        """The dispatched pods of one operator."""
        return [
            v
            for v in self.vehicles
            if isinstance(v, DispatchedPod) and v.planned.operator_key == operator_key
        ]

    def held(self) -> list[Batch]:
        """The batches held back to be late, released now (the run is ending)."""
        return [batch for p in self.providers for batch in self.batchers[p.key].release(None)]

    def states(self) -> Counter[str]:
        """How many vehicles are in each MDS state."""
        return Counter(v.state for v in self.vehicles)

    def tally(self) -> Counter[str]:
        """What the vehicles and gateways did so far (trips, misbehaviour), all providers."""
        total: Counter[str] = Counter()
        for outbox in self.outboxes.values():
            total.update(outbox.tally)
        return total
