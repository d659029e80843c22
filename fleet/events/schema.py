"""MDS 2.0 Event payloads, checked against the provider's mode state machine (pure)."""

from typing import Annotated, NotRequired

from pydantic import AfterValidator, Field, TypeAdapter, with_config

# pydantic needs typing_extensions' TypedDict before Python 3.12.
from typing_extensions import TypedDict

from app.core.mds import VehicleState
from app.core.mds_batch import (
    BatchLimits,
    BatchSchema,
    Problem,
    common_problems,
    unknown_field_problems,
)
from app.core.mds_types import (
    KEEP_EXTRA,
    MdsName,
    MdsString,
    MdsUuid,
    Percent,
    TimestampMs,
    field_names,
    unique_items,
)
from fleet.events.state_machines import StateMachine
from telemetry.schema import Gps, gps_problems

EventTypes = Annotated[list[MdsName], Field(min_length=1), AfterValidator(unique_items)]
# MDS's `uuid-array`: may be empty; trip events need trip ids (`mode_problems`).
UuidArray = Annotated[list[MdsUuid], AfterValidator(unique_items)]


@with_config(KEEP_EXTRA)
class Event(TypedDict):
    """MDS Event; `location` or `event_geographies` must be given. Fields MDS does not
    define are kept as given in the stored record."""

    device_id: MdsUuid
    provider_id: MdsUuid
    data_provider_id: NotRequired[MdsUuid]
    event_id: MdsUuid
    vehicle_state: VehicleState
    event_types: EventTypes
    timestamp: TimestampMs
    publication_time: NotRequired[TimestampMs]
    location: NotRequired[Gps]
    event_geographies: NotRequired[UuidArray]
    battery_percent: NotRequired[Percent]
    fuel_percent: NotRequired[Percent]
    trip_ids: NotRequired[UuidArray]
    associated_ticket: NotRequired[MdsString]


EVENT_FIELDS = field_names(Event)
_ITEM: TypeAdapter[Event] = TypeAdapter(Event)
_ARRAY: TypeAdapter[list[Event]] = TypeAdapter(list[Event])


def needs_trip_ids(event: Event, machine: StateMachine) -> bool:
    """Trip events need trip ids; jurisdiction events only while the vehicle is on a trip."""
    types = event["event_types"]
    if machine.needs_trip_ids(types):
        return True
    pertains_to_trip = event["vehicle_state"] == "on_trip"
    return pertains_to_trip and any(t in machine.conditional_trip_event_types for t in types)


def mode_problems(event: Event, machine: StateMachine) -> list[Problem]:
    """Whether the event makes sense in the provider's mode."""
    problems = []
    unknown = sorted(set(event["event_types"]) - machine.event_types)
    if unknown:
        problems.append(
            Problem("event_types", f"not event types of {machine.mode}: {', '.join(unknown)}")
        )
    if event["vehicle_state"] not in machine.states:
        problems.append(Problem("vehicle_state", f"not a vehicle state of {machine.mode}"))
    if not problems and not machine.pairing_ok(event["vehicle_state"], event["event_types"]):
        problems.append(
            Problem(
                "event_types",
                f"event_types {event['event_types']} do not lead to vehicle_state "
                f"{event['vehicle_state']} in {machine.mode}",
            )
        )
    if not problems and needs_trip_ids(event, machine) and not event.get("trip_ids"):
        if "trip_ids" in event:
            problems.append(Problem("trip_ids", "trip events need at least one trip_id"))
        else:
            problems.append(Problem("trip_ids", "trip_ids are required for trip events", True))
    if "location" not in event and not event.get("event_geographies"):
        problems.append(
            Problem("location", "location (or event_geographies) is required", missing=True)
        )
    return problems


def event_schema(provider_id: str, machine: StateMachine) -> BatchSchema[Event]:
    """How to validate events posted for `provider_id` in `machine`'s mode."""

    def context(event: Event, limits: BatchLimits) -> list[Problem]:
        problems = common_problems(event, provider_id, limits) + mode_problems(event, machine)
        problems += unknown_field_problems(event, EVENT_FIELDS)
        if "location" in event:
            problems += gps_problems(event["location"], "location.")
        return problems

    return BatchSchema(_ITEM, _ARRAY, context, unique_key="event_id")
