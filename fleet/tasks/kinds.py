"""Task kinds, and which of them are bound to a place rather than a vehicle."""

from enum import StrEnum


class TaskKind(StrEnum):
    """What a field agent is asked to do."""

    BATTERY_SWAP = "battery_swap"
    RELOCATE = "relocate"
    COLLECT_FOR_REPAIR = "collect_for_repair"
    INSPECT = "inspect"
    REBALANCE_PICKUP = "rebalance_pickup"
    REBALANCE_DROPOFF = "rebalance_dropoff"
    DEPLOY = "deploy"


# Kinds bound to a place; every other kind is bound to one vehicle.
PLACE_KINDS = frozenset({TaskKind.REBALANCE_DROPOFF, TaskKind.DEPLOY})
