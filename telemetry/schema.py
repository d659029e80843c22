"""MDS 2.0 Telemetry payloads and their batch validation (pure).

The whole body is validated by pydantic-core in one call (`app.core.mds_batch`), so the
per-point cost stays in compiled code; only the checks that need context run in Python.
"""

from typing import Any, Literal, NotRequired

from pydantic import StrictBool, TypeAdapter, with_config

# pydantic needs typing_extensions' TypedDict before Python 3.12.
from typing_extensions import TypedDict

from app.core.mds_batch import (
    BatchLimits,
    BatchSchema,
    Problem,
    common_problems,
    unknown_field_problems,
)
from app.core.mds_types import (
    KEEP_EXTRA,
    Latitude,
    Longitude,
    MdsUuid,
    Number,
    Percent,
    PositiveInt,
    TimestampMs,
    UuidList,
    field_names,
    unknown_fields,
)


@with_config(KEEP_EXTRA)
class Gps(TypedDict):
    """MDS GPS object; fields MDS does not define are kept as given."""

    lat: Latitude
    lng: Longitude
    altitude: NotRequired[Number]
    heading: NotRequired[Number]
    # MDS sets no minimum: chipsets send -1 for "not known" (see telemetry.quality).
    speed: NotRequired[Number]
    horizontal_accuracy: NotRequired[Number]
    vertical_accuracy: NotRequired[Number]
    satellites: NotRequired[PositiveInt]


@with_config(KEEP_EXTRA)
class Telemetry(TypedDict):
    """MDS Telemetry; `trip_ids` and `journey_id` must be present, null outside trips.

    Fields MDS does not define, here or in `location`, are kept as given (`extras`).
    """

    device_id: MdsUuid
    provider_id: MdsUuid
    data_provider_id: NotRequired[MdsUuid]
    telemetry_id: MdsUuid
    timestamp: TimestampMs
    trip_ids: UuidList | None
    journey_id: MdsUuid | None
    stop_id: NotRequired[MdsUuid]
    location: Gps
    location_type: NotRequired[Literal["street", "sidewalk", "crosswalk", "garage", "bike_lane"]]
    battery_percent: NotRequired[Percent]
    fuel_percent: NotRequired[Percent]
    tipped_over: NotRequired[StrictBool]


GPS_FIELDS = field_names(Gps)
TELEMETRY_FIELDS = field_names(Telemetry)


def extras(point: Telemetry) -> dict[str, Any] | None:
    """The fields of a point MDS does not define, those of its location under `location`."""
    # Runs once per stored point, and most points hold only fields MDS defines.
    if TELEMETRY_FIELDS.issuperset(point) and GPS_FIELDS.issuperset(point["location"]):
        return None
    found = unknown_fields(point, TELEMETRY_FIELDS)
    in_location = unknown_fields(point["location"], GPS_FIELDS)
    if in_location:
        found["location"] = in_location
    return found or None


def gps_problems(location: Gps, path: str) -> list[Problem]:
    """What a GPS object's unknown fields hold that cannot be stored."""
    return unknown_field_problems(location, GPS_FIELDS, path)


def telemetry_schema(provider_id: str) -> BatchSchema[Telemetry]:
    """How to validate telemetry posted for `provider_id`."""

    def context(point: Telemetry, limits: BatchLimits) -> list[Problem]:
        problems = common_problems(point, provider_id, limits)
        # Inline, as it runs once per point: most points hold only fields MDS defines.
        if not (TELEMETRY_FIELDS.issuperset(point) and GPS_FIELDS.issuperset(point["location"])):
            problems += unknown_field_problems(point, TELEMETRY_FIELDS)
            problems += gps_problems(point["location"], "location.")
        return problems

    return BatchSchema(_ITEM, _ARRAY, context)


_ITEM: TypeAdapter[Telemetry] = TypeAdapter(Telemetry)
_ARRAY: TypeAdapter[list[Telemetry]] = TypeAdapter(list[Telemetry])
