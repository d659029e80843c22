"""The pod dispatcher's input and output: plain frozen dataclasses (pure).

Times are whole seconds from the planning instant `now` (t = 0); distances whole metres.
A request's windows bound when service *starts* at its pickup and at its drop-off; once
fleetbed has promised a request, the service stores the promised windows as the
request's windows, so a planner that keeps every window keeps every promise.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from app.core.errors import InvalidInput
from fleet.rebalancing.model import Place

if TYPE_CHECKING:
    from fleet.rebalancing.travel import TravelTimes


class DispatchError(InvalidInput):
    """The dispatch input is not acceptable; `field` names the offending value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", fields=(field,))
        self.field = field
        self.message = message

    def __reduce__(self) -> tuple[type["DispatchError"], tuple[str, str]]:
        return (DispatchError, (self.field, self.message))


@dataclass(frozen=True, slots=True)
class Load:
    """What a request occupies in a pod, or what a pod holds at most."""

    seats: int = 0
    wheelchairs: int = 0
    weight_g: int = 0
    volume_l: int = 0

    def __add__(self, other: "Load") -> "Load":
        return Load(
            self.seats + other.seats,
            self.wheelchairs + other.wheelchairs,
            self.weight_g + other.weight_g,
            self.volume_l + other.volume_l,
        )

    def __sub__(self, other: "Load") -> "Load":
        return Load(
            self.seats - other.seats,
            self.wheelchairs - other.wheelchairs,
            self.weight_g - other.weight_g,
            self.volume_l - other.volume_l,
        )

    def fits(self, capacity: "Load") -> bool:
        """True when every dimension is within `capacity`'s."""
        return (
            self.seats <= capacity.seats
            and self.wheelchairs <= capacity.wheelchairs
            and self.weight_g <= capacity.weight_g
            and self.volume_l <= capacity.volume_l
        )


@dataclass(frozen=True, slots=True)
class Window:
    """When service may start: `earliest_s <= start <= latest_s`."""

    earliest_s: int
    latest_s: int


@dataclass(frozen=True, slots=True)
class Request:
    """A ride or a delivery, from `pickup` to `dropoff`."""

    request_id: str
    pickup: Place
    dropoff: Place
    load: Load
    pickup_window: Window
    dropoff_window: Window
    max_ride_s: int  # from the end of pickup service to the start of drop-off service
    pickup_service_s: int = 0  # boarding or loading
    dropoff_service_s: int = 0  # alighting or unloading


class StopKind(StrEnum):
    """What a pod does at a stop."""

    PICKUP = "pickup"
    DROPOFF = "dropoff"


@dataclass(frozen=True, slots=True)
class Pod:
    """A dispatchable pod as it is now."""

    pod_id: str
    place: Place  # where it is, or where the stop it is serving now ends
    free_at_s: int  # when it can leave `place` (> 0 while it finishes a stop)
    capacity: Load
    route_end_s: int  # it ends its route (at `depot`, if any) by then
    range_m: int  # what its battery still drives, less the reserve
    depot: Place | None = None  # where its route ends; None: it stays at its last stop
    onboard: tuple[str, ...] = ()  # requests picked up and not yet dropped off
    # Requests whose riders were told this pod (or that the pod has started towards):
    # they stay on it. Others may move to another pod when schedules are re-optimised.
    pinned: tuple[str, ...] = ()
    # False for a pod that is charging or out of service: it keeps its onboard and pinned
    # requests and serves them, but takes no other request.
    takes_new: bool = True


@dataclass(frozen=True, slots=True)
class Planned:
    """A stop in a pod's order, before times are computed."""

    request_id: str
    kind: StopKind


@dataclass(frozen=True, slots=True)
class Problem:
    """The pods, every request they carry or have promised, and their current orders.

    `orders[pod_id]` lists the stops not yet started; a request in `onboard` has only its
    drop-off there. Every request in `requests` is in exactly one order.
    """

    pods: tuple[Pod, ...]
    requests: Mapping[str, Request]
    orders: Mapping[str, tuple[Planned, ...]]
    travel: "TravelTimes"  # driving seconds between places
    metres_per_second: float  # turns driving seconds into metres for the range check

    def __post_init__(self) -> None:
        _check_problem(self)


@dataclass(frozen=True, slots=True)
class ScheduledStop:
    """A stop with its times and the load on board when the pod leaves."""

    request_id: str
    kind: StopKind
    place: Place
    arrive_s: int
    start_s: int  # service start: max(arrival, the window's earliest)
    depart_s: int
    load_after: Load


@dataclass(frozen=True, slots=True)
class Schedule:
    """One pod's timed stops and what its route costs."""

    pod_id: str
    stops: tuple[ScheduledStop, ...]
    drive_s: int  # driving seconds from the pod's place through every stop (and depot)
    drive_m: int
    end_s: int  # when the route ends (arrival at the depot, or the last departure)


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where a new request went: its pod, every changed schedule, and its times."""

    request_id: str
    pod_id: str
    schedules: tuple[Schedule, ...]
    pickup_start_s: int
    dropoff_start_s: int
    added_drive_s: int


class Reason(StrEnum):
    """Why no pod that takes new requests can take a request."""

    NO_PODS = "no_pods"  # no pod takes new requests now
    TOO_BIG = "too_big"  # larger than every pod's capacity
    NO_TIME = "no_time"  # no pod reaches it within its windows without breaking a promise
    RANGE = "range"  # the pods that could reach it lack the battery
    SHIFT = "shift"  # it would end after every pod's route end


@dataclass(frozen=True, slots=True)
class Refusal:
    """No pod can serve the request; `earliest_pickup_s` when one could, if any."""

    request_id: str
    reason: Reason
    earliest_pickup_s: int | None


@dataclass(frozen=True, slots=True)
class Violation:
    """A broken constraint found by the checker."""

    pod_id: str
    request_id: str | None
    constraint: str  # window, capacity, ride_time, precedence, route_end, range, pinned, ...
    detail: str


def _check_problem(problem: Problem) -> None:
    """Reject malformed input, naming the field; feasibility is the checker's job."""
    mps = problem.metres_per_second
    _require(math.isfinite(mps) and mps > 0, "metres_per_second", "must be a positive number")
    pod_ids = [p.pod_id for p in problem.pods]
    _require(len(set(pod_ids)) == len(pod_ids), "pods", "pod_id repeated")
    for key, request in problem.requests.items():
        _check_request(key, request)
    for pod in problem.pods:
        for request_id in (*pod.onboard, *pod.pinned):
            _require(
                request_id in problem.requests, f"pods[{pod.pod_id}]", f"{request_id} is unknown"
            )
    for pod_id, order in problem.orders.items():
        _require(pod_id in pod_ids, "orders", f"{pod_id} is not a pod")
        for stop in order:
            _require(
                stop.request_id in problem.requests,
                f"orders[{pod_id}]",
                f"{stop.request_id} is unknown",
            )


def _check_request(key: str, request: Request) -> None:
    load, pickup, dropoff = request.load, request.pickup_window, request.dropoff_window
    if (
        key == request.request_id
        and pickup.earliest_s <= pickup.latest_s
        and dropoff.earliest_s <= dropoff.latest_s
        and min(request.max_ride_s, request.pickup_service_s, request.dropoff_service_s) >= 0
        and min(load.seats, load.wheelchairs, load.weight_g, load.volume_l) >= 0
    ):
        return  # the common case, checked at once: problems are made per HTTP request
    path = f"requests[{key}]"
    _require(key == request.request_id, path, f"keyed by {key}, but its id is {request.request_id}")
    for name in ("pickup_window", "dropoff_window"):
        window = getattr(request, name)
        _require(window.earliest_s <= window.latest_s, f"{path}.{name}", "earliest after latest")
    for name in ("max_ride_s", "pickup_service_s", "dropoff_service_s"):
        _require(getattr(request, name) >= 0, f"{path}.{name}", "must not be negative")
    raise DispatchError(f"{path}.load", "must not be negative")


def _require(ok: bool, field: str, message: str) -> None:
    if not ok:
        raise DispatchError(field, message)
