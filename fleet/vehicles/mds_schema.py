"""MDS 2.0 Vehicle payloads per mode, and their validation into bulk failures (pure)."""

import re
import uuid
from datetime import date
from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    AfterValidator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    with_config,
)

# pydantic needs typing_extensions' TypedDict before Python 3.12.
from typing_extensions import TypedDict

from app.core.auth import Mode
from app.core.bounded import INT64_MAX, JsonInt
from app.core.errors import BulkFailure
from app.core.mds import PropulsionType, VehicleType
from app.core.mds_batch import context_failures, unknown_field_problems
from app.core.mds_types import (
    FORBID_EXTRA,
    KEEP_EXTRA,
    MdsString,
    MdsUuid,
    PositiveInt,
    failures_from_error,
    field_names,
    unique_items,
)


def _iso_date(value: str) -> str:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("expected a date as YYYY-MM-DD")
    if date.fromisoformat(value).year < 1970:
        raise ValueError("dates before 1970 are not valid in MDS")
    return value


# MDS's `minimum-year`: 1970 on, with no maximum.
Year = Annotated[StrictInt, Field(ge=1970, le=INT64_MAX), JsonInt]
IsoDate = Annotated[StrictStr, AfterValidator(_iso_date)]


@with_config(FORBID_EXTRA)
class MicromobilityAttributes(TypedDict):
    """`vehicle_attributes` of the micromobility mode."""

    year: NotRequired[Year]
    make: NotRequired[MdsString]
    model: NotRequired[MdsString]


@with_config(FORBID_EXTRA)
class PassengerServicesAttributes(MicromobilityAttributes):
    """`vehicle_attributes` of the passenger-services mode."""

    color: NotRequired[MdsString]
    vin: NotRequired[MdsString]
    placard_number: NotRequired[MdsString]
    license_plate: NotRequired[MdsString]
    inspection_date: NotRequired[IsoDate]


@with_config(FORBID_EXTRA)
class CarShareAttributes(TypedDict):
    """`vehicle_attributes` of the car-share mode."""

    year: Year
    make: MdsString
    model: MdsString
    color: MdsString
    vin: MdsString
    license_plate: MdsString
    placard_number: NotRequired[MdsString]
    inspection_date: NotRequired[IsoDate]
    snow_shovel: NotRequired[StrictBool]
    snow_brush: NotRequired[StrictBool]
    bike_rack: NotRequired[StrictBool]
    park_access: NotRequired[StrictBool]
    toll_transponder: NotRequired[StrictBool]
    phone_charger: NotRequired[StrictBool]
    sunshade: NotRequired[StrictBool]
    cargo_volume_capacity: NotRequired[PositiveInt]
    cargo_load_capacity: NotRequired[PositiveInt]
    door_count: NotRequired[PositiveInt]
    wheel_count: NotRequired[PositiveInt]
    air_conditioning: NotRequired[StrictBool]
    gear_switch: NotRequired[Literal["automatic", "manual"]]
    convertible: NotRequired[StrictBool]
    cruise_control: NotRequired[StrictBool]
    navigation: NotRequired[StrictBool]


@with_config(FORBID_EXTRA)
class DeliveryRobotAttributes(MicromobilityAttributes):
    """`vehicle_attributes` of the delivery-robots mode."""

    color: NotRequired[MdsString]
    inspection_date: NotRequired[IsoDate]
    equipped_cameras: NotRequired[PositiveInt]
    equipped_lighting: NotRequired[PositiveInt]
    wheel_count: NotRequired[PositiveInt]
    width: NotRequired[PositiveInt]
    length: NotRequired[PositiveInt]
    height: NotRequired[PositiveInt]
    weight: NotRequired[PositiveInt]
    top_speed: NotRequired[PositiveInt]
    storage_capacity: NotRequired[PositiveInt]


@with_config(FORBID_EXTRA)
class DeliveryRobotAccessibility(TypedDict):
    """`accessibility_attributes` of the delivery-robots mode."""

    audio_cue: NotRequired[StrictBool]
    visual_cue: NotRequired[StrictBool]
    remote_open: NotRequired[StrictBool]


Propulsions = Annotated[list[PropulsionType], Field(min_length=1), AfterValidator(unique_items)]
Adaptive = Annotated[list[Literal["adaptive"]], AfterValidator(unique_items)]
Wheelchair = Annotated[list[Literal["wheelchair_accessible"]], AfterValidator(unique_items)]


# A Vehicle itself is open in MDS: fields it does not define are kept in the record.
@with_config(KEEP_EXTRA)
class _VehicleCommon(TypedDict):
    device_id: MdsUuid
    provider_id: MdsUuid
    data_provider_id: NotRequired[MdsUuid]
    vehicle_id: MdsString
    vehicle_type: VehicleType
    propulsion_types: Propulsions
    battery_capacity: NotRequired[PositiveInt]
    fuel_capacity: NotRequired[PositiveInt]
    maximum_speed: NotRequired[PositiveInt]


@with_config(KEEP_EXTRA)
class MicromobilityVehicle(_VehicleCommon):
    """An MDS Vehicle of the micromobility mode."""

    vehicle_attributes: NotRequired[MicromobilityAttributes]
    accessibility_attributes: NotRequired[Adaptive]


@with_config(KEEP_EXTRA)
class PassengerServicesVehicle(_VehicleCommon):
    """An MDS Vehicle of the passenger-services mode."""

    vehicle_attributes: NotRequired[PassengerServicesAttributes]
    accessibility_attributes: NotRequired[Wheelchair]


@with_config(KEEP_EXTRA)
class CarShareVehicle(_VehicleCommon):
    """An MDS Vehicle of the car-share mode."""

    vehicle_attributes: NotRequired[CarShareAttributes]
    accessibility_attributes: NotRequired[Wheelchair]


@with_config(KEEP_EXTRA)
class DeliveryRobotVehicle(_VehicleCommon):
    """An MDS Vehicle of the delivery-robots mode."""

    vehicle_attributes: NotRequired[DeliveryRobotAttributes]
    accessibility_attributes: NotRequired[DeliveryRobotAccessibility]


_VEHICLES: dict[Mode, Any] = {
    Mode.MICROMOBILITY: MicromobilityVehicle,
    Mode.PASSENGER_SERVICES: PassengerServicesVehicle,
    Mode.CAR_SHARE: CarShareVehicle,
    Mode.DELIVERY_ROBOTS: DeliveryRobotVehicle,
}
VEHICLE_ADAPTERS: dict[Mode, TypeAdapter[Any]] = {
    mode: TypeAdapter(vehicle) for mode, vehicle in _VEHICLES.items()
}
_FIELDS = {mode: field_names(vehicle) for mode, vehicle in _VEHICLES.items()}


def validate_vehicles(
    items: list[Any], *, mode: Mode, provider_id: uuid.UUID
) -> tuple[list[dict[str, Any]], list[BulkFailure]]:
    """Check a batch of MDS vehicles for `provider_id`; valid items come back normalised."""
    adapter = VEHICLE_ADAPTERS[mode]
    valid: list[dict[str, Any]] = []
    failures: list[BulkFailure] = []
    seen: set[str] = set()
    for item in items:
        try:
            vehicle: dict[str, Any] = adapter.validate_python(item)
        except ValidationError as exc:
            failures.extend(failures_from_error(item, exc))
            continue
        unstorable = unknown_field_problems(vehicle, _FIELDS[mode])
        if unstorable:
            failures.extend(context_failures(item, unstorable))
        elif vehicle["provider_id"] != str(provider_id):
            failures.append(
                BulkFailure(
                    item,
                    "bad_param",
                    "provider_id does not match the authenticated provider",
                    ["provider_id"],
                )
            )
        elif vehicle["device_id"] in seen:
            failures.append(
                BulkFailure(
                    item,
                    "bad_param",
                    "device_id appears more than once in this batch",
                    ["device_id"],
                )
            )
        else:
            seen.add(vehicle["device_id"])
            valid.append(vehicle)
    return valid, failures


def openapi_components() -> dict[str, Any]:
    """JSON schemas of the MDS Vehicle per mode, for the OpenAPI document."""
    union = MicromobilityVehicle | PassengerServicesVehicle | CarShareVehicle | DeliveryRobotVehicle
    schema = TypeAdapter(union).json_schema(ref_template="#/components/schemas/{model}")
    components: dict[str, Any] = schema.pop("$defs")
    components["MdsVehicle"] = schema
    return components
