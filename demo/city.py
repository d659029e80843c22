"""The demo city: Helsingborg's testbed as data — operators, fleets, hotspots and zones.

Shared by `fleetbed demo seed` (which publishes it) and `fleetbed simulate` (which drives
a fleet through it and misbehaves against its zones). The operators are fictional; the
places are real, their coordinates approximate, the zones drawn for the demo.
"""

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from app.core.auth import Mode
from app.core.mds import PropulsionType, VehicleType

# Trips per vehicle and day of the demo's riders: busier than a real fleet, so that there
# is something to watch at any hour; the seeded history has the same rate.
DEMO_TRIPS_PER_DAY = 24.0

# Fixed ids make seeding idempotent and runs comparable: uuid5 under this namespace.
NAMESPACE = uuid.UUID("5b0f6a4e-2f4e-4c8e-9d61-8a1f0e0c2b17")
HELSINGBORG_ID = "1283"  # the municipality's id in the geodata file
GEODATA = Path("..") / "shared" / "geodata" / "municipalities-nw-skane.geojson"


def demo_id(*parts: str) -> uuid.UUID:
    """A stable id for a named thing of the demo city."""
    return uuid.uuid5(NAMESPACE, "/".join(parts))


@dataclass(frozen=True)
class Hotspot:
    """A place where trips begin and end, weighted by how busy it is at each hour."""

    name: str
    lat: float
    lng: float
    weight: float
    # Share of the hotspot's weight by time of day: commuters in the morning and
    # evening, leisure in the afternoon and at night.
    commute: float


HOTSPOTS = (
    Hotspot("Helsingborg C / Knutpunkten", 56.0440, 12.6940, 3.0, 0.8),
    Hotspot("Oceanhamnen", 56.0370, 12.6890, 1.6, 0.3),
    Hotspot("Campus Helsingborg", 56.0470, 12.6930, 1.8, 0.7),
    Hotspot("Olympia", 56.0545, 12.7080, 1.0, 0.2),
    Hotspot("Berga", 56.0255, 12.7290, 0.9, 0.6),
    Hotspot("Råå", 56.0005, 12.7415, 0.7, 0.4),
    Hotspot("Tågaborg", 56.0570, 12.6960, 1.0, 0.5),
)


@dataclass(frozen=True)
class FleetShare:
    """Part of an operator's fleet: a vehicle type, how it is driven, how fast it goes."""

    vehicle_type: VehicleType
    propulsion: tuple[PropulsionType, ...]
    share: float
    cruise_kph: float
    range_km: float


@dataclass(frozen=True)
class Depot:
    """Where an operator's rebalancing van starts and ends its shift."""

    name: str
    lat: float
    lng: float


@dataclass(frozen=True)
class Operator:
    """A provider in the testbed, with its MDS mode and its fleet's make-up."""

    key: str
    name: str
    mode: Mode
    fleet: tuple[FleetShare, ...]
    share: float  # of the demo's vehicles
    # Micromobility fleets are rebalanced by van; pods drive themselves and have none.
    depot: Depot | None = None

    @property
    def provider_id(self) -> uuid.UUID:
        """The operator's fixed provider id."""
        return demo_id("provider", self.key)

    @property
    def main_vehicle_type(self) -> VehicleType:
        """The vehicle type of the largest part of the fleet (the one its van moves)."""
        return max(self.fleet, key=lambda s: s.share).vehicle_type


_E = (PropulsionType.ELECTRIC,)
_ASSIST = (PropulsionType.ELECTRIC_ASSIST, PropulsionType.HUMAN)

OPERATORS = (
    Operator(
        "sundsvik",
        "Sundsvik Scooters",
        Mode.MICROMOBILITY,
        (
            FleetShare(VehicleType.SCOOTER_STANDING, _E, 0.8, 17, 45),
            FleetShare(VehicleType.MOPED, _E, 0.2, 28, 80),
        ),
        0.38,
        Depot("Gåsebäck", 56.0295, 12.7105),
    ),
    Operator(
        "kullacykel",
        "Kullacykel",
        Mode.MICROMOBILITY,
        (
            FleetShare(VehicleType.BICYCLE, _ASSIST, 0.75, 16, 70),
            FleetShare(VehicleType.CARGO_BICYCLE, _ASSIST, 0.25, 13, 50),
        ),
        0.30,
        Depot("Husensjö", 56.0560, 12.7240),
    ),
    Operator(
        "oresundsflyt",
        "Öresundsflyt",
        Mode.MICROMOBILITY,
        (
            FleetShare(VehicleType.SCOOTER_STANDING, _E, 0.6, 18, 40),
            FleetShare(VehicleType.BICYCLE, _ASSIST, 0.4, 16, 70),
        ),
        0.20,
        Depot("Ramlösa", 56.0160, 12.7440),
    ),
    Operator(
        "printpod-passenger",
        "PrintPod Mobility (passengers)",
        Mode.PASSENGER_SERVICES,
        (FleetShare(VehicleType.OTHER, _E, 1.0, 14, 60),),
        0.06,
    ),
    Operator(
        "printpod-goods",
        "PrintPod Mobility (goods)",
        Mode.DELIVERY_ROBOTS,
        (FleetShare(VehicleType.DELIVERY_ROBOT, _E, 1.0, 6, 30),),
        0.06,
    ),
)


Ring = list[tuple[float, float]]  # (lng, lat), closed


def box(min_lat: float, min_lng: float, max_lat: float, max_lng: float) -> Ring:
    """A closed rectangular ring, GeoJSON order."""
    return [
        (min_lng, min_lat),
        (max_lng, min_lat),
        (max_lng, max_lat),
        (min_lng, max_lat),
        (min_lng, min_lat),
    ]


@dataclass(frozen=True)
class DemoZone:
    """A zone the demo publishes: its name, kind, rule fields and rings (shell, holes)."""

    key: str
    name: str
    kind: str
    rings: tuple[Ring, ...]
    fields: tuple[tuple[str, Any], ...] = ()

    def create_body(self) -> dict[str, Any]:
        """The body of `POST /v1/zones` for this zone."""
        return {
            "name": self.name,
            "kind": self.kind,
            "geometry": {
                "type": "Polygon",
                "coordinates": [[list(p) for p in r] for r in self.rings],
            },
            **dict(self.fields),
        }


# Oceanhamnen's hubs are mandatory in effect: the district is a no-parking zone with the
# hubs cut out as holes, so parking is valid there only inside a hub (and `corral`).
# fleetbed's `mandatory` hubs bind a vehicle type city-wide, which is not this rule.
OCEANHAMNEN_HUBS = (
    box(56.03655, 12.68850, 56.03685, 12.68910),
    box(56.03780, 12.68960, 56.03810, 12.69020),
)
ZONES = (
    DemoZone(
        "kullagatan",
        "Kullagatan pedestrian street",
        "slow",
        (box(56.0460, 12.6930, 56.0490, 12.6955),),
        (("max_speed_kph", 8),),
    ),
    DemoZone(
        "stortorget",
        "Stortorget",
        "slow",
        (box(56.0440, 12.6950, 56.0460, 12.6975),),
        (("max_speed_kph", 10),),
    ),
    DemoZone(
        "knutpunkten-north",
        "Knutpunkten north entrance",
        "no_parking",
        (box(56.0447, 12.6933, 56.0452, 12.6943),),
    ),
    DemoZone(
        "knutpunkten-south",
        "Knutpunkten south entrance",
        "no_parking",
        (box(56.0428, 12.6946, 56.0433, 12.6956),),
    ),
    DemoZone(
        "oceanhamnen",
        "Oceanhamnen: park in the hubs",
        "no_parking",
        (box(56.0355, 12.6870, 56.0390, 12.6920), *OCEANHAMNEN_HUBS),
    ),
    *(
        DemoZone(
            f"oceanhamnen-hub-{n}",
            f"Oceanhamnen hub {n}",
            "parking",
            (ring,),
            (("parking", "preferred"),),
        )
        for n, ring in enumerate(OCEANHAMNEN_HUBS, start=1)
    ),
    DemoZone(
        "oceanhamnen-pier",
        "Oceanhamnen pier",
        "no_ride",
        (box(56.0359, 12.6874, 56.0365, 12.6886),),
    ),
)


def service_area_ring(geodata: Path = GEODATA) -> Ring:
    """Helsingborg municipality's outline (its shell) from the shared geodata."""
    collection = orjson.loads(geodata.read_bytes())
    for feature in collection["features"]:
        if feature["properties"].get("id") == HELSINGBORG_ID:
            geometry = feature["geometry"]
            shell = (
                geometry["coordinates"][0]
                if geometry["type"] == "Polygon"
                else max(geometry["coordinates"], key=len)[0]
            )
            return [(float(lng), float(lat)) for lng, lat in shell]
    raise ValueError(f"{geodata} has no municipality {HELSINGBORG_ID} (Helsingborg)")
