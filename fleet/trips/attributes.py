"""The per-mode journey, trip and fare attributes of an MDS Trip (models/modes/*/trip.yaml)."""

from typing import Any, Literal, Required

from pydantic import StrictBool, TypeAdapter, ValidationError, with_config

# pydantic needs typing_extensions' TypedDict before Python 3.12.
from typing_extensions import TypedDict

from app.core.auth import Mode
from app.core.mds_batch import Problem
from app.core.mds_types import (
    FORBID_EXTRA,
    KEEP_EXTRA,
    Cost,
    MdsString,
    MdsUuid,
    PositiveInt,
    TimestampMs,
)
from telemetry.schema import Gps

# Providers may add their own attributes (KEEP_EXTRA); only the closed journey objects
# forbid extras.
Payment = Literal[
    "account_number", "cash", "credit_card", "mobile_app", "no_payment", "phone", "test", "voucher"
]
# Passenger services alone know paratransit; one flat Literal keeps error locations plain.
PassengerPayment = Literal[
    "account_number",
    "cash",
    "credit_card",
    "mobile_app",
    "no_payment",
    "paratransit",
    "phone",
    "test",
    "voucher",
]
FareType = Literal["meter_fare", "upfront_pricing", "flat_rate"]


@with_config(KEEP_EXTRA)
class PassengerTripAttributes(TypedDict, total=False):
    """Passenger services: how the ride was hailed, who rode, and when."""

    hail_type: Required[Literal["street_hail", "phone_dispatch", "phone", "text", "app"]]
    app_name: MdsString
    passenger_count: Required[PositiveInt]
    requested_time: Required[TimestampMs]
    requested_trip_start_location: Gps
    quoted_trip_start_time: Required[TimestampMs]
    dispatch_time: TimestampMs
    trip_wait_time: PositiveInt
    trip_fare_time: PositiveInt
    pickup_address: MdsString
    dropoff_address: MdsString
    permit_license_number: MdsString
    driver_id: MdsString
    wheelchair_transported: StrictBool
    cancellation_reason: MdsString


@with_config(KEEP_EXTRA)
class DeliveryTripAttributes(TypedDict, total=False):
    """Delivery robots: who drove and whether a payload was aboard."""

    driver_type: Required[Literal["human", "semi_autonomous", "autonomous"]]
    driver_id: MdsUuid
    app_name: MdsString
    requested_time: TimestampMs
    has_payload: StrictBool


@with_config(KEEP_EXTRA)
class CarShareTripAttributes(TypedDict, total=False):
    """Car share: the reservation behind the trip."""

    reservation_type: Required[Literal["phone_dispatch", "phone", "text", "app"]]
    passenger_count: Required[PositiveInt]
    requested_time: Required[TimestampMs]
    quoted_trip_start_time: Required[TimestampMs]
    app_name: MdsString
    permit_license_number: MdsString
    driver_id: MdsString


@with_config(KEEP_EXTRA)
class Fees(TypedDict, total=False):
    """Parts of a fare, in minor units of the trip's currency."""

    tolls: Cost
    base_rate: Cost
    exit_fee: Cost
    other_fees: Cost
    tip: Cost
    extra_amount: Cost
    taxes: Cost
    surcharge: Cost


@with_config(KEEP_EXTRA)
class CarShareFareAttributes(Fees, total=False):
    """What a car-share rider paid."""

    payment_type: Required[Payment]
    fare_type: Required[FareType]


@with_config(KEEP_EXTRA)
class PassengerFareAttributes(Fees, total=False):
    """What a passenger paid, and what taxi regulators ask about."""

    payment_type: Required[PassengerPayment]
    fare_type: Required[FareType]
    meter_fare_amount: Cost
    commission: Cost
    driver_trip_pay: Cost
    rate_code_id: Literal[
        "meter_fare", "shared", "out_of_town", "disabled", "upfront_pricing", "promo_rate"
    ]


@with_config(KEEP_EXTRA)
class DeliveryFareAttributes(TypedDict, total=False):
    """What a delivery cost."""

    payment_type: Payment
    price: Cost


@with_config(FORBID_EXTRA)
class ShiftJourney(TypedDict, total=False):
    """Passenger services: the driver's shift the journey belongs to."""

    shift_id: MdsUuid


@with_config(FORBID_EXTRA)
class ReservationJourney(TypedDict, total=False):
    """Car share: the reservation the journey belongs to."""

    reservation_id: MdsUuid


_SCHEMAS: dict[Mode, dict[str, type]] = {
    Mode.PASSENGER_SERVICES: {
        "trip_attributes": PassengerTripAttributes,
        "fare_attributes": PassengerFareAttributes,
        "journey_attributes": ShiftJourney,
    },
    Mode.DELIVERY_ROBOTS: {
        "trip_attributes": DeliveryTripAttributes,
        "fare_attributes": DeliveryFareAttributes,
    },
    Mode.CAR_SHARE: {
        "trip_attributes": CarShareTripAttributes,
        "fare_attributes": CarShareFareAttributes,
        "journey_attributes": ReservationJourney,
    },
}
_ADAPTERS: dict[Mode, dict[str, TypeAdapter[Any]]] = {
    mode: {field: TypeAdapter(schema) for field, schema in fields.items()}
    for mode, fields in _SCHEMAS.items()
}


def attribute_problems(trip: Any, mode: Mode) -> list[Problem]:
    """Each bad or missing journey, trip or fare attribute of `mode`, by its dotted name.

    The objects themselves are optional, as in the mode schemas: only what one holds is
    checked.
    """
    problems: list[Problem] = []
    for field, adapter in _ADAPTERS.get(mode, {}).items():
        if field not in trip:
            continue
        try:
            adapter.validate_python(trip[field])
        except ValidationError as error:
            problems += [
                Problem(
                    ".".join((field, *map(str, detail["loc"]))),
                    f"{field}: {detail['msg']}",
                    missing=detail["type"] == "missing",
                )
                for detail in error.errors()
            ]
    return problems
