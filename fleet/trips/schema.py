"""MDS 2.0 Trip payloads (POST /mds/agency/trips), checked per mode (pure)."""

from typing import Annotated, Any, Literal, NotRequired

from pydantic import AfterValidator, Field, StrictStr, TypeAdapter, with_config

# pydantic needs typing_extensions' TypedDict before Python 3.12.
from typing_extensions import TypedDict

from app.core.auth import Mode
from app.core.bounded import JsonObject, SafeJson
from app.core.mds_batch import BatchLimits, BatchSchema, Problem, unknown_field_problems
from app.core.mds_types import (
    KEEP_EXTRA,
    Cost,
    MdsName,
    MdsUrl,
    MdsUuid,
    PositiveInt,
    TimestampMs,
    field_names,
    unique_items,
)
from fleet.trips.attributes import attribute_problems
from telemetry.schema import Gps, gps_problems

TripTypes = Annotated[list[MdsName], AfterValidator(unique_items)]


@with_config(KEEP_EXTRA)
class Trip(TypedDict):
    """MDS Trip; the mode's own fields are checked by `mode_problems`. Fields MDS does not
    define are kept as given in the stored record."""

    provider_id: MdsUuid
    data_provider_id: NotRequired[MdsUuid]
    device_id: MdsUuid
    trip_id: MdsUuid
    journey_id: NotRequired[MdsUuid]
    journey_attributes: NotRequired[JsonObject]
    trip_type: NotRequired[TripTypes]
    trip_attributes: NotRequired[JsonObject]
    fare_attributes: NotRequired[JsonObject]
    start_time: TimestampMs
    end_time: TimestampMs
    start_location: Gps
    end_location: Gps
    duration: PositiveInt
    distance: PositiveInt
    publication_time: NotRequired[TimestampMs]
    accessibility_attributes: NotRequired[Annotated[list[StrictStr] | dict[str, Any], SafeJson]]
    parking_verification_url: NotRequired[MdsUrl | None]
    parking_category: NotRequired[Literal["corral", "curb", "rack", "other_valid", "invalid"]]
    standard_cost: NotRequired[Cost]
    actual_cost: NotRequired[Cost]
    currency: NotRequired[Annotated[StrictStr, Field(pattern=r"^[A-Z]{3}$")] | None]


# Per mode (models/modes/<mode>/trip.yaml): the trip types allowed.
TRIP_TYPES: dict[Mode, frozenset[str]] = {
    Mode.MICROMOBILITY: frozenset({"rider", "rebalance", "maintenance"}),
    Mode.PASSENGER_SERVICES: frozenset({"private", "shared", "reservation", "empty"}),
    Mode.DELIVERY_ROBOTS: frozenset({"delivery", "return", "advertising", "mapping", "roaming"}),
    Mode.CAR_SHARE: frozenset({"private", "reservation", "empty"}),
}

TRIP_FIELDS = field_names(Trip)
_ITEM: TypeAdapter[Trip] = TypeAdapter(Trip)
_ARRAY: TypeAdapter[list[Trip]] = TypeAdapter(list[Trip])


def mode_problems(trip: Trip, mode: Mode) -> list[Problem]:
    """What the provider's mode requires of a trip, beyond the common model."""
    problems = []
    types = trip.get("trip_type")
    # Micromobility's schema sets only a maximum: its trip_type may be absent or empty.
    optional = mode is Mode.MICROMOBILITY
    if types is None:
        if not optional:
            problems.append(Problem("trip_type", f"{mode} trips need a trip_type", missing=True))
    elif len(types) > 1 or (not types and not optional) or not set(types) <= TRIP_TYPES[mode]:
        allowed = ", ".join(sorted(TRIP_TYPES[mode]))
        problems.append(Problem("trip_type", f"one trip_type of {allowed}"))
    problems += attribute_problems(trip, mode)
    return problems


def trip_schema(provider_id: str, mode: Mode) -> BatchSchema[Trip]:
    """How to validate trips posted for `provider_id` in `mode`."""

    def context(trip: Trip, limits: BatchLimits) -> list[Problem]:
        problems = []
        if trip["provider_id"] != provider_id:
            problems.append(
                Problem("provider_id", "provider_id is not the authenticated provider's")
            )
        if trip["end_time"] > limits.latest_ms:
            problems.append(
                Problem("end_time", "end_time lies further ahead than the allowed skew")
            )
        if trip["end_time"] < trip["start_time"]:
            problems.append(Problem("end_time", "end_time is before start_time"))
        problems += unknown_field_problems(trip, TRIP_FIELDS)
        for name in ("start_location", "end_location"):
            problems += gps_problems(trip[name], f"{name}.")
        return problems + mode_problems(trip, mode)

    return BatchSchema(_ITEM, _ARRAY, context, unique_key="trip_id")
