"""GBFS vehicle types from the MDS registry: form factor, propulsion, range and names."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleet.gbfs.schemas import VehicleTypeSettings

# MDS vehicle types GBFS has a form factor for; the others (buses, robots) are `other`.
FORM_FACTORS = {
    "bicycle": "bicycle",
    "cargo_bicycle": "cargo_bicycle",
    "car": "car",
    "moped": "moped",
    "scooter_standing": "scooter_standing",
    "scooter_seated": "scooter_seated",
}
HUMAN = "human"
# Typical full-charge ranges in metres, for types whose operator gave none.
DEFAULT_RANGE_M = {
    "bicycle": 60_000.0,
    "cargo_bicycle": 50_000.0,
    "car": 300_000.0,
    "moped": 80_000.0,
    "scooter_standing": 40_000.0,
    "scooter_seated": 50_000.0,
    "other": 30_000.0,
}
# Default public names per (form factor, motorised), by language; English elsewhere.
_NAMES: dict[tuple[str, bool], dict[str, str]] = {
    ("bicycle", False): {"en": "Bicycle", "sv": "Cykel"},
    ("bicycle", True): {"en": "E-bike", "sv": "Elcykel"},
    ("cargo_bicycle", False): {"en": "Cargo bike", "sv": "Lastcykel"},
    ("cargo_bicycle", True): {"en": "Electric cargo bike", "sv": "Ellastcykel"},
    ("car", True): {"en": "Car", "sv": "Bil"},
    ("moped", True): {"en": "Moped", "sv": "Moped"},
    ("scooter_standing", True): {"en": "E-scooter", "sv": "Elsparkcykel"},
    ("scooter_standing", False): {"en": "Kick scooter", "sv": "Sparkcykel"},
    ("scooter_seated", True): {"en": "Seated e-scooter", "sv": "Elsparkcykel med sits"},
}
_OTHER_NAME = {"en": "Vehicle", "sv": "Fordon"}


@dataclass(frozen=True)
class GbfsType:
    """A vehicle type as GBFS sees it: one per MDS type and primary propulsion."""

    vehicle_type_id: str
    mds_type: str
    form_factor: str
    propulsion_type: str

    @property
    def motorised(self) -> bool:
        """Whether it has a motor (then GBFS requires its ranges)."""
        return self.propulsion_type != HUMAN


def gbfs_type(mds_type: str, propulsions: Sequence[str]) -> GbfsType:
    """The GBFS type of an MDS vehicle: a motor, when listed, is its primary propulsion."""
    motors = [p for p in propulsions if p != HUMAN]
    propulsion = motors[0] if motors else HUMAN
    return GbfsType(
        vehicle_type_id=f"{mds_type}_{propulsion}",
        mds_type=mds_type,
        form_factor=FORM_FACTORS.get(mds_type, "other"),
        propulsion_type=propulsion,
    )


def max_range_m(kind: GbfsType, settings: VehicleTypeSettings | None) -> float:
    """The full-charge range: the operator's, else a typical one for the form factor."""
    if settings is not None and settings.max_range_meters is not None:
        return settings.max_range_meters
    return DEFAULT_RANGE_M.get(kind.form_factor, DEFAULT_RANGE_M["other"])


def default_name(kind: GbfsType, languages: Sequence[str]) -> list[dict[str, str]]:
    """A plain public name in each language."""
    names = _NAMES.get((kind.form_factor, kind.motorised), _OTHER_NAME)
    return [
        {"text": names.get(lang.split("-")[0], names["en"]), "language": lang} for lang in languages
    ]


def vehicle_type_record(
    kind: GbfsType,
    settings: VehicleTypeSettings | None,
    languages: Sequence[str],
    default_plan: str | None,
) -> dict[str, Any]:
    """One entry of vehicle_types.json."""
    record: dict[str, Any] = {
        "vehicle_type_id": kind.vehicle_type_id,
        "form_factor": kind.form_factor,
        "propulsion_type": kind.propulsion_type,
        "name": (
            [t.model_dump() for t in settings.name]
            if settings is not None and settings.name
            else default_name(kind, languages)
        ),
        "return_constraint": "free_floating",
    }
    if kind.motorised:
        record["max_range_meters"] = max_range_m(kind, settings)
    if settings is not None:
        for field in ("max_permitted_speed", "rider_capacity", "pricing_plan_ids"):
            if (value := getattr(settings, field)) is not None:
                record[field] = value
    plan = settings.default_pricing_plan_id if settings is not None else None
    if plan or default_plan:
        record["default_pricing_plan_id"] = plan or default_plan
    return record


def settings_by_type(entries: Sequence[VehicleTypeSettings]) -> Mapping[str, VehicleTypeSettings]:
    """The operator's settings per vehicle_type_id."""
    return {entry.vehicle_type_id: entry for entry in entries}
