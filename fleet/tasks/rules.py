"""Task rules (pure): from what a batch says about vehicles, the tasks to open and close."""

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fleet.tasks.kinds import TaskKind

PARKING_ALERTS = frozenset({"parked_in_no_parking_zone", "parked_outside_mandatory_hub"})


@dataclass(frozen=True)
class TaskRules:
    """One provider's rules; the defaults apply to a provider that set none."""

    battery_below_percent: int = 20
    # Thresholds of vehicle types that differ from `battery_below_percent`.
    battery_below_by_vehicle_type: Mapping[str, int] = field(default_factory=dict)
    battery_swap_due_minutes: int = 240
    relocate_due_minutes: int = 60
    collect_due_minutes: int = 480
    inspect_after_hours: int = 12
    inspect_due_minutes: int = 480

    def battery_threshold(self, vehicle_type: str) -> int:
        """Below this battery percentage a vehicle of this type needs a swap."""
        return self.battery_below_by_vehicle_type.get(vehicle_type, self.battery_below_percent)


# Higher is more urgent: a broken vehicle before a badly parked one before a flat one.
PRIORITY: dict[TaskKind, int] = {
    TaskKind.COLLECT_FOR_REPAIR: 3,
    TaskKind.RELOCATE: 2,
    TaskKind.BATTERY_SWAP: 1,
    TaskKind.INSPECT: 1,
}


@dataclass(frozen=True)
class Opening:
    """A task a rule asks for: open it unless the vehicle has an active one of its kind."""

    device_id: str
    kind: TaskKind
    lat: float | None
    lng: float | None
    priority: int
    due_at: datetime
    reason: str


@dataclass(frozen=True)
class Closing:
    """An active task the data shows is no longer needed."""

    device_id: str
    kind: TaskKind
    reason: str


@dataclass(frozen=True)
class Reading:
    """A vehicle's newest point of a batch."""

    device_id: str
    vehicle_type: str
    battery: int | None
    lat: float
    lng: float


@dataclass(frozen=True)
class StateChange:
    """A vehicle's newest event of a batch."""

    device_id: str
    state: str
    lat: float | None
    lng: float | None


@dataclass(frozen=True)
class ParkingReport:
    """Where a trip ended, and whether that was a valid place to park."""

    device_id: str
    lat: float
    lng: float
    valid: bool


@dataclass(frozen=True)
class Decisions:
    """Tasks to open and tasks to close, for one batch."""

    opening: list[Opening]
    closing: list[Closing]


def _open(
    kind: TaskKind,
    minutes: int,
    now: datetime,
    *,
    device_id: str,
    lat: float | None,
    lng: float | None,
    reason: str,
) -> Opening:
    return Opening(
        device_id, kind, lat, lng, PRIORITY[kind], now + timedelta(minutes=minutes), reason
    )


def on_readings(
    readings: Iterable[Reading],
    rules: TaskRules,
    now: datetime,
    active: Container[tuple[str, str]] | None = None,
) -> Decisions:
    """A low battery opens a swap, a charged one closes it; any report closes an inspection.

    Given `active`, the (vehicle, kind) pairs that have an active task, only what changes
    something is decided: a batch's readings are mostly of vehicles without a task.
    """
    opening, closing = [], []
    for r in readings:
        device = r.device_id
        if active is None or (device, TaskKind.INSPECT) in active:
            closing.append(Closing(device, TaskKind.INSPECT, "the vehicle reported again"))
        if r.battery is None:
            continue
        swapping = active is None or (device, TaskKind.BATTERY_SWAP) in active
        threshold = rules.battery_threshold(r.vehicle_type)
        if r.battery < threshold:
            if active is None or not swapping:
                reason = f"battery {r.battery} % below {threshold} %"
                opening.append(
                    _open(
                        TaskKind.BATTERY_SWAP,
                        rules.battery_swap_due_minutes,
                        now,
                        device_id=device,
                        lat=r.lat,
                        lng=r.lng,
                        reason=reason,
                    )
                )
        elif swapping:
            reason = f"battery {r.battery} % at or above {threshold} %"
            closing.append(Closing(device, TaskKind.BATTERY_SWAP, reason))
    return Decisions(opening, closing)


def on_parking_alerts(
    alerts: Iterable[tuple[str, str, float, float]], rules: TaskRules, now: datetime
) -> Decisions:
    """A bad-parking alert (device, kind, lat, lng) opens a relocation."""
    opening = [
        _open(
            TaskKind.RELOCATE,
            rules.relocate_due_minutes,
            now,
            device_id=device_id,
            lat=lat,
            lng=lng,
            reason=kind,
        )
        for device_id, kind, lat, lng in alerts
        if kind in PARKING_ALERTS
    ]
    return Decisions(opening, [])


def on_parking_reports(reports: Iterable[ParkingReport]) -> Decisions:
    """A trip ending in a valid place closes the vehicle's relocation."""
    closing = [
        Closing(r.device_id, TaskKind.RELOCATE, "parked in a valid place")
        for r in reports
        if r.valid
    ]
    return Decisions([], closing)


def on_states(changes: Iterable[StateChange], rules: TaskRules, now: datetime) -> Decisions:
    """`non_operational` opens a collection for repair; `available` closes it."""
    opening, closing = [], []
    for c in changes:
        if c.state == "non_operational":
            opening.append(
                _open(
                    TaskKind.COLLECT_FOR_REPAIR,
                    rules.collect_due_minutes,
                    now,
                    device_id=c.device_id,
                    lat=c.lat,
                    lng=c.lng,
                    reason="the vehicle became non_operational",
                )
            )
        elif c.state == "available":
            closing.append(
                Closing(c.device_id, TaskKind.COLLECT_FOR_REPAIR, "the vehicle is available again")
            )
    return Decisions(opening, closing)


def silent_vehicle(
    device_id: str, lat: float | None, lng: float | None, rules: TaskRules, now: datetime
) -> Opening:
    """An inspection at the last known position of a vehicle that stopped reporting."""
    return _open(
        TaskKind.INSPECT,
        rules.inspect_due_minutes,
        now,
        device_id=device_id,
        lat=lat,
        lng=lng,
        reason=f"no telemetry for {rules.inspect_after_hours} h",
    )


def merged(*parts: Decisions) -> Decisions:
    """Several decisions as one; of two openings of one vehicle and kind the first wins."""
    opening: dict[tuple[str, TaskKind], Opening] = {}
    for part in parts:
        for o in part.opening:
            opening.setdefault((o.device_id, o.kind), o)
    closing = {(c.device_id, c.kind): c for part in parts for c in part.closing}
    # A task opened and closed by one batch stays open: the opening is the newer news.
    kept = [c for key, c in closing.items() if key not in opening]
    return Decisions(list(opening.values()), kept)
