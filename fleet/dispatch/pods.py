"""Which of a provider's vehicles are pods that take requests, and what each carries (pure).

A pod's capacity comes from its MDS record where MDS says something (a wheelchair-
accessible vehicle has wheelchair places; a delivery robot's `storage_capacity` is its
volume), otherwise from the operator's settings. Its range is its battery share of the
full range, less the reserve; below the reserve it goes to charge.
"""

from dataclasses import dataclass
from typing import Any

from app.core.auth import Mode
from fleet.dispatch.model import Load
from fleet.dispatch.schemas import DispatchSettingsBody

DISPATCHABLE_MODES = frozenset({Mode.PASSENGER_SERVICES, Mode.DELIVERY_ROBOTS})
# Vehicle states in which a pod may be given work (it is serving or free to serve).
WORKING_STATES = frozenset({"available", "reserved", "on_trip", "stopped"})


@dataclass(frozen=True, slots=True)
class PodFacts:
    """What fleetbed knows of a pod now; `why_not` is None when it takes new requests."""

    capacity: Load
    range_m: int
    why_not: str | None


def capacity_of(mode: Mode, record: dict[str, Any], settings: DispatchSettingsBody) -> Load:
    """A pod's capacity: persons only in the passenger-services mode."""
    accessible = "wheelchair_accessible" in (record.get("accessibility_attributes") or [])
    storage = (record.get("vehicle_attributes") or {}).get("storage_capacity")
    persons = mode == Mode.PASSENGER_SERVICES
    return Load(
        seats=settings.seats if persons else 0,
        wheelchairs=settings.wheelchairs if persons and accessible else 0,
        weight_g=round(settings.payload_kg * 1000),
        volume_l=int(storage) if isinstance(storage, int) else round(settings.volume_l),
    )


def pod_facts(
    *,
    mode: Mode,
    record: dict[str, Any],
    settings: DispatchSettingsBody,
    state: str | None,
    battery_percent: int | None,
    has_position: bool,
) -> PodFacts:
    """Capacity, usable range and whether the pod takes new requests now."""
    capacity = capacity_of(mode, record, settings)
    # Without a battery reading the pod is trusted with a full one: it reports when low.
    share = 100 if battery_percent is None else max(0, min(100, battery_percent))
    usable = max(0, share - settings.battery_reserve_percent)
    range_m = round(settings.full_range_km * 1000 * usable / 100)
    why_not = None
    if not has_position:
        why_not = "no known position"
    elif state not in WORKING_STATES:
        why_not = f"vehicle state {state or 'unknown'}"
    elif share < settings.battery_reserve_percent:
        why_not = "battery below the reserve: charging"
    return PodFacts(capacity, range_m, why_not)
