"""MDS 2.0 vehicle state machines of the four modes, as tables (pure).

The tables are the "Vehicle State Events" tables of `spec/modes/<mode>.md` (MDS 2.0.2),
written out here; `tests/unit/test_state_machines.py` parses the spec text and checks
that they are equal. Where the spec contradicts itself, the choice made is noted inline.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product

from app.core.auth import Mode


@dataclass(frozen=True)
class Transition:
    """One edge of a state machine: `event_type` moves a vehicle `from_state` → `to_state`."""

    from_state: str
    event_type: str
    to_state: str


def _listed(event_types: Sequence[str]) -> Sequence[str]:
    # A bare str is a Sequence[str] to the type checker; taken as a list of letters it
    # would quietly answer False, so refuse it outright.
    if isinstance(event_types, str):
        raise TypeError("event_types must be a sequence of event types, not a str")
    return event_types


@dataclass(frozen=True)
class StateMachine:
    """The vehicle states, event types and transitions MDS 2.0 allows in one mode.

    An event's `event_types` are ordered: each is applied in turn and only the state
    after the last one is reported as `vehicle_state` (MDS 2.0 `modes/micromobility.md`,
    "Vehicle State Events": "if a single event has more than one ordered `event_type`
    entry, the intermediate `vehicle_state` value(s) are discarded").
    """

    mode: Mode
    states: frozenset[str]
    event_types: frozenset[str]
    transitions: frozenset[Transition]
    # Event types whose events must carry non-empty `trip_ids`.
    trip_event_types: frozenset[str]
    # Event types that need `trip_ids` only when "pertaining to a trip" (the jurisdiction
    # events outside micromobility): the event types alone cannot tell, so
    # `needs_trip_ids` does not count them.
    conditional_trip_event_types: frozenset[str] = frozenset()
    _successors: Mapping[tuple[str, str], frozenset[str]] = field(
        init=False, repr=False, compare=False
    )
    # Per event type, the states it leads into from anywhere.
    _targets: Mapping[str, frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        successors: dict[tuple[str, str], set[str]] = {}
        for t in self.transitions:
            successors.setdefault((t.from_state, t.event_type), set()).add(t.to_state)
        # The dataclass is frozen; this index is derived once from `transitions`.
        object.__setattr__(self, "_successors", {k: frozenset(v) for k, v in successors.items()})
        targets: dict[str, set[str]] = {}
        for t in self.transitions:
            targets.setdefault(t.event_type, set()).add(t.to_state)
        object.__setattr__(self, "_targets", {k: frozenset(v) for k, v in targets.items()})
        # Catch a typo in the tables below at import rather than as a silent refusal.
        used_states = {t.from_state for t in self.transitions} | {
            t.to_state for t in self.transitions
        }
        used_types = {t.event_type for t in self.transitions}
        trip_types = self.trip_event_types | self.conditional_trip_event_types
        if not used_states <= self.states or not used_types | trip_types <= self.event_types:
            raise ValueError(f"inconsistent state machine for {self.mode}")

    def _walk(self, starts: frozenset[str], event_types: Sequence[str]) -> frozenset[str]:
        """The states reached from any of `starts` by applying `event_types` in order."""
        if not event_types:
            return frozenset()
        current = starts
        for event_type in event_types:
            current = frozenset(
                to for state in current for to in self._successors.get((state, event_type), ())
            )
        return current

    def pairing_ok(self, vehicle_state: str, event_types: Sequence[str]) -> bool:
        """Whether `vehicle_state` can be the state an event with these `event_types` reports.

        True when every event type is known to the mode and the types, in order, trace a
        path through the table from some state to `vehicle_state`: a single type must
        lead into `vehicle_state`; with several, the last one must, and each must leave a
        state the previous one leads into (e.g. micromobility [`trip_end`, `battery_low`]
        pairs with `non_operational`, via `available`). The official mode schemas accept
        more, types that each lead into `vehicle_state` in any order, and so does this.
        The prior state is not needed.
        """
        types = _listed(event_types)
        if not types or not all(t in self.event_types for t in types):
            return False
        return self._each_leads_into(vehicle_state, types) or vehicle_state in self._walk(
            self.states, types
        )

    def _each_leads_into(self, vehicle_state: str, event_types: Sequence[str]) -> bool:
        """The mode schema's rule: every event type is one that leads into `vehicle_state`
        (e.g. micromobility [`located`, `comms_restored`] with `available`)."""
        return all(vehicle_state in self._targets.get(t, ()) for t in event_types)

    def transition_allowed(
        self, prior_state: str | None, event_types: Sequence[str], vehicle_state: str
    ) -> bool:
        """Whether the table has a path `prior_state` → `vehicle_state` along `event_types`.

        True whenever `prior_state` is None (unknown). MDS says prior-state validity is not
        enforced at ingest, as events may arrive out of order: use this to flag, not refuse.
        It does not check the pairing; see `pairing_ok`. Types that each lead into
        `vehicle_state` (the mode schemas' pairing) need one of them to lead there from
        `prior_state`.
        """
        types = _listed(event_types)
        if prior_state is None:
            return True
        prior = frozenset({prior_state})
        if vehicle_state in self._walk(prior, types):
            return True
        return self._each_leads_into(vehicle_state, types) and any(
            vehicle_state in self._walk(prior, (t,)) for t in types
        )

    def needs_trip_ids(self, event_types: Sequence[str]) -> bool:
        """Whether an event with these `event_types` must carry non-empty `trip_ids`."""
        return any(t in self.trip_event_types for t in _listed(event_types))


# A row is (from states, to states, event types), each space-separated; it stands for
# every combination, so a spec row whose From cell lists several states is one row here.
_Rows = tuple[tuple[str, str, str], ...]


def _machine(
    mode: Mode, states: str, rows: _Rows, trip_types: str, conditional_trip_types: str = ""
) -> StateMachine:
    transitions = frozenset(
        Transition(from_state, event_type, to_state)
        for froms, tos, types in rows
        for from_state, to_state, event_type in product(froms.split(), tos.split(), types.split())
    )
    return StateMachine(
        mode=mode,
        states=frozenset(states.split()),
        # The mode schemas list, per state, exactly the event types of the table rows into
        # that state, so the table is the source; the prose "Event Types" lists disagree
        # (e.g. `recommission` vs the tables' `recommissioned`).
        event_types=frozenset(t.event_type for t in transitions),
        transitions=transitions,
        trip_event_types=frozenset(trip_types.split()),
        conditional_trip_event_types=frozenset(conditional_trip_types.split()),
    )


_MICROMOBILITY: _Rows = (
    ("available", "non_operational", "battery_low maintenance off_hours system_suspend"),
    ("available", "reserved", "reservation_start"),
    (
        "available elsewhere non_operational on_trip removed reserved",
        "non_contactable",
        "comms_lost unspecified",
    ),
    ("available non_contactable missing", "non_operational", "unspecified"),
    (
        "available non_operational elsewhere",
        "removed",
        "compliance_pick_up maintenance_pick_up rebalance_pick_up",
    ),
    (
        "available non_operational elsewhere non_contactable missing",
        "removed",
        "agency_pick_up decommissioned unspecified",
    ),
    ("available reserved", "on_trip", "trip_start"),
    ("elsewhere", "on_trip", "trip_enter_jurisdiction"),
    ("missing", "available elsewhere non_operational on_trip removed reserved", "located"),
    (
        "non_contactable",
        "available elsewhere non_operational on_trip removed reserved",
        "comms_restored",
    ),
    ("non_contactable", "missing", "not_located unspecified"),
    ("non_contactable missing", "elsewhere on_trip reserved", "unspecified"),
    ("non_operational", "available", "battery_charged maintenance on_hours system_resume"),
    ("non_operational non_contactable missing", "available", "unspecified"),
    # A Beta row (since 1.1.0); kept, as the mode schema lists it. The spec cell reads
    # "`on_trip `" with a stray space.
    ("on_trip", "on_trip", "changed_geographies"),
    ("on_trip", "available", "trip_cancel trip_end"),
    ("on_trip", "elsewhere", "trip_leave_jurisdiction"),
    ("removed non_contactable missing", "available", "agency_drop_off provider_drop_off"),
    ("reserved", "available", "reservation_cancel"),
)

# Rows the three journey modes (delivery robots, passenger services, car share) share.
_JOURNEY_COMMON: _Rows = (
    ("available non_operational on_trip reserved", "elsewhere", "trip_leave_jurisdiction"),
    (
        "available elsewhere non_operational on_trip removed reserved stopped",
        "non_contactable",
        "comms_lost",
    ),
    ("available", "non_operational", "service_end"),
    ("available", "reserved", "reservation_start"),
    ("elsewhere", "available non_operational on_trip reserved", "trip_enter_jurisdiction"),
    (
        "non_contactable",
        "available elsewhere non_operational on_trip removed reserved stopped",
        "comms_restored",
    ),
    ("non_operational", "available", "service_start"),
    ("removed", "non_operational", "maintenance_end recommissioned"),
    ("reserved", "stopped", "reservation_stop"),
    ("stopped", "on_trip", "trip_resume trip_start"),
)


def _cancellations(who: str) -> _Rows:
    """A reservation or a stop cancelled by the customer (named `who`), driver or provider."""
    cancels = f"{who}_cancellation driver_cancellation provider_cancellation"
    return (
        ("reserved", "available", cancels),
        ("stopped", "available", f"{cancels} trip_end"),
    )


_DELIVERY_ROBOTS: _Rows = (
    *_JOURNEY_COMMON,
    *_cancellations("customer"),
    ("missing", "available elsewhere non_operational on_trip removed reserved stopped", "located"),
    ("non_contactable", "missing", "not_located"),
    ("non_operational", "non_operational", "maintenance maintenance_end"),
    ("non_operational", "removed", "maintenance_pick_up decommissioned"),
    ("on_trip", "stopped", "order_drop_off order_pick_up trip_pause"),
)

_PASSENGER_SERVICES: _Rows = (
    *_JOURNEY_COMMON,
    *_cancellations("passenger"),
    ("non_operational", "non_operational", "maintenance maintenance_end"),
    ("non_operational", "removed", "maintenance_pick_up decommissioned"),
    ("on_trip", "stopped", "trip_stop"),
)

_CAR_SHARE: _Rows = (
    *_JOURNEY_COMMON,
    *_cancellations("customer"),
    # Unlike the other modes, car share's on-site `maintenance` leads to `removed`.
    ("non_operational", "removed", "decommissioned maintenance_pick_up maintenance"),
    ("on_trip", "stopped", "trip_stop"),
    (
        "stopped",
        "stopped",
        "charging_end charging_start fueling_end fueling_start remote_end remote_start",
    ),
)

# Trip ID requirements: each mode's "Trip ID Requirements" list, less the event types the
# mode does not have (`trip_cancel`, `trip_pause`, `customer_cancellation` in some).
# Passenger services lists `customer_cancellation` but its cancellation event is
# `passenger_cancellation`, which its schema requires trip_ids for; we follow the schema.
_JURISDICTION = "trip_enter_jurisdiction trip_leave_jurisdiction"

STATE_MACHINES: dict[Mode, StateMachine] = {
    Mode.MICROMOBILITY: _machine(
        Mode.MICROMOBILITY,
        "removed available non_operational reserved on_trip non_contactable missing elsewhere",
        _MICROMOBILITY,
        # Here the jurisdiction events only ever enter or leave `on_trip`.
        f"trip_start trip_end trip_cancel {_JURISDICTION}",
    ),
    Mode.DELIVERY_ROBOTS: _machine(
        Mode.DELIVERY_ROBOTS,
        "removed available non_operational reserved on_trip stopped non_contactable missing "
        "elsewhere",
        _DELIVERY_ROBOTS,
        "reservation_start reservation_stop trip_start trip_pause trip_resume trip_end "
        "customer_cancellation provider_cancellation driver_cancellation",
        _JURISDICTION,
    ),
    Mode.PASSENGER_SERVICES: _machine(
        Mode.PASSENGER_SERVICES,
        "removed available non_operational reserved on_trip stopped non_contactable elsewhere",
        _PASSENGER_SERVICES,
        "reservation_start reservation_stop trip_start trip_resume trip_stop trip_end "
        "passenger_cancellation provider_cancellation driver_cancellation",
        _JURISDICTION,
    ),
    Mode.CAR_SHARE: _machine(
        Mode.CAR_SHARE,
        "removed available non_operational reserved on_trip stopped non_contactable elsewhere",
        _CAR_SHARE,
        "reservation_start reservation_stop trip_start trip_resume trip_stop trip_end "
        "customer_cancellation provider_cancellation driver_cancellation",
        _JURISDICTION,
    ),
}
