"""MDS 2.0 vocabulary shared by every layer."""

from enum import StrEnum
from typing import Literal

MDS_VERSION = "2.0.2"
MDS_MEDIA_VERSION = "2.0"
MDS_MEDIA_TYPE = "application/vnd.mds+json"

# MDS requires lowercase UUIDs.
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class VehicleType(StrEnum):
    """MDS vehicle types."""

    BICYCLE = "bicycle"
    BUS = "bus"
    CARGO_BICYCLE = "cargo_bicycle"
    CAR = "car"
    DELIVERY_ROBOT = "delivery_robot"
    MOPED = "moped"
    MOTORCYCLE = "motorcycle"
    SCOOTER_STANDING = "scooter_standing"
    SCOOTER_SEATED = "scooter_seated"
    TRUCK = "truck"
    OTHER = "other"


class PropulsionType(StrEnum):
    """MDS propulsion types."""

    HUMAN = "human"
    ELECTRIC_ASSIST = "electric_assist"
    ELECTRIC = "electric"
    COMBUSTION = "combustion"
    COMBUSTION_DIESEL = "combustion_diesel"
    HYBRID = "hybrid"
    HYDROGEN_FUEL_CELL = "hydrogen_fuel_cell"
    PLUG_IN_HYBRID = "plug_in_hybrid"


VehicleState = Literal[
    "removed",
    "available",
    "non_operational",
    "reserved",
    "on_trip",
    "stopped",
    "non_contactable",
    "missing",
    "elsewhere",
]
