"""The demo fleet: which vehicles each operator runs, the same for `demo seed` and `simulate`.

Vehicle n of an operator keeps its device id, vehicle id and type whatever the total, so a
simulator driving 1,000 vehicles after a 300-vehicle seed reuses the seeded 300.
"""

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.core.mds import PropulsionType, VehicleType
from demo.city import OPERATORS, Operator, demo_id


@dataclass(frozen=True)
class PlannedVehicle:
    """One vehicle of the demo fleet."""

    operator_key: str
    n: int
    device_id: uuid.UUID
    vehicle_id: str
    vehicle_type: VehicleType
    propulsion_types: tuple[PropulsionType, ...]
    cruise_kph: float
    range_km: float

    def mds_vehicle(self, provider_id: uuid.UUID) -> dict[str, Any]:
        """The MDS Vehicle that registers it (`POST /mds/agency/vehicles`), in any mode."""
        return {
            "device_id": str(self.device_id),
            "provider_id": str(provider_id),
            "vehicle_id": self.vehicle_id,
            "vehicle_type": str(self.vehicle_type),
            "propulsion_types": [str(p) for p in self.propulsion_types],
        }


def split_total(total: int, shares: list[float]) -> list[int]:
    """Split `total` by `shares` into counts summing exactly to `total` (largest remainder)."""
    if total < 0:
        raise ValueError("total must be >= 0")
    weight = sum(shares)
    exact = [total * s / weight for s in shares]
    counts = [math.floor(x) for x in exact]
    # Ties go to the earlier entry, so the split is deterministic.
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def plan_operator(operator: Operator, count: int) -> list[PlannedVehicle]:
    """The first `count` vehicles of one operator."""
    weight = sum(s.share for s in operator.fleet)
    counts = [0] * len(operator.fleet)
    planned = []
    for n in range(count):
        # The type furthest behind its share goes next, so every prefix of the fleet
        # (any total) keeps the operator's mix.
        deficits = [(n + 1) * s.share / weight - counts[i] for i, s in enumerate(operator.fleet)]
        chosen = max(range(len(operator.fleet)), key=lambda i: (deficits[i], -i))
        counts[chosen] += 1
        share = operator.fleet[chosen]
        planned.append(
            PlannedVehicle(
                operator_key=operator.key,
                n=n,
                device_id=demo_id("vehicle", operator.key, str(n)),
                vehicle_id=f"{operator.key[:4].upper()}-{n:04d}",
                vehicle_type=share.vehicle_type,
                propulsion_types=share.propulsion,
                cruise_kph=share.cruise_kph,
                range_km=share.range_km,
            )
        )
    return planned


def plan_fleet(total: int, operators: Sequence[Operator] = OPERATORS) -> list[PlannedVehicle]:
    """The demo fleet of `total` vehicles split across operators by share, in operator order."""
    counts = split_total(total, [op.share for op in operators])
    return [
        v for op, count in zip(operators, counts, strict=True) for v in plan_operator(op, count)
    ]
