"""A dispatch request's life (pure): which state may follow which, and what a pod's MDS
event means for the request it names.

assigned -> picked_up -> delivered; assigned -> cancelled | no_show | failed;
picked_up -> failed. Passenger-services and delivery-robots pods share the event types
that matter here, except that a robot gets its goods at `order_pick_up`.
"""

from collections.abc import Sequence
from enum import StrEnum


class RequestState(StrEnum):
    """Where a request is."""

    ASSIGNED = "assigned"
    PICKED_UP = "picked_up"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    FAILED = "failed"


ACTIVE = frozenset({RequestState.ASSIGNED, RequestState.PICKED_UP})
FINAL = frozenset(RequestState) - ACTIVE

_NEXT: dict[RequestState, frozenset[RequestState]] = {
    RequestState.ASSIGNED: frozenset(
        {
            RequestState.PICKED_UP,
            RequestState.CANCELLED,
            RequestState.NO_SHOW,
            RequestState.FAILED,
            # A pod that reports the trip's end without its start still delivered it.
            RequestState.DELIVERED,
        }
    ),
    RequestState.PICKED_UP: frozenset({RequestState.DELIVERED, RequestState.FAILED}),
}

# Event types that end a reservation or trip without delivering it, by whom.
_CUSTOMER_CANCELS = frozenset({"passenger_cancellation", "customer_cancellation"})
_PROVIDER_FAILS = frozenset({"driver_cancellation", "provider_cancellation", "trip_cancel"})
# A passenger boards at the trip's start; a robot gets its order at `order_pick_up`.
_PICKUPS = frozenset({"trip_start", "order_pick_up"})
# Event types that show the pod is serving the request: it stays on that pod.
PINNING = frozenset({"reservation_start", "reservation_stop"}) | _PICKUPS


def allowed_next(state: RequestState) -> frozenset[RequestState]:
    """The states a request in `state` may move to."""
    return _NEXT.get(state, frozenset())


def after_event(state: RequestState, event_types: Sequence[str]) -> RequestState | None:
    """The request's state after a pod's event naming it; None when it changes nothing.

    A cancellation by the customer before pickup is a cancellation; after pickup, or by
    the driver or provider, the request failed.
    """
    types = set(event_types)
    if "trip_end" in types:
        wanted = RequestState.DELIVERED
    elif types & _CUSTOMER_CANCELS:
        wanted = RequestState.CANCELLED if state == RequestState.ASSIGNED else RequestState.FAILED
    elif types & _PROVIDER_FAILS:
        wanted = RequestState.FAILED
    elif types & _PICKUPS:
        wanted = RequestState.PICKED_UP
    else:
        return None
    return wanted if wanted in allowed_next(state) else None
