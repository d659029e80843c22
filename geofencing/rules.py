"""Zone kinds and the rules a zone carries (pure)."""

from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo

from geofencing.schedule import active_at


class ZoneKind(StrEnum):
    """What a zone means for vehicles in it."""

    SERVICE_AREA = "service_area"
    NO_RIDE = "no_ride"
    NO_PARKING = "no_parking"
    SLOW = "slow"
    PARKING = "parking"
    RESTRICTED = "restricted"
    # A district for statistics and geographies: no rule, no alert, no effect on rides
    # or parking.
    DISTRICT = "district"


class ParkingMode(StrEnum):
    """Whether a parking zone is merely preferred or the only place to park."""

    PREFERRED = "preferred"
    MANDATORY = "mandatory"


@dataclass(frozen=True)
class ZoneRule:
    """The rule part of a zone: whom and when it applies to, and its parameters."""

    kind: ZoneKind
    vehicle_types: frozenset[str] | None = None
    days: frozenset[str] | None = None
    start_time: time | None = None
    end_time: time | None = None
    max_speed_kph: int | None = None
    parking: ParkingMode | None = None
    provider_id: str | None = None

    def applies(
        self, when: datetime, tz: ZoneInfo, vehicle_type: str | None, provider_id: str | None
    ) -> bool:
        """Whether the rule binds a vehicle of this type and provider at `when`."""
        if self.provider_id is not None and provider_id != self.provider_id:
            return False
        if self.vehicle_types is not None and vehicle_type not in self.vehicle_types:
            return False
        return active_at(when, tz, days=self.days, start=self.start_time, end=self.end_time)

    def unconditional(self) -> bool:
        """Whether the rule binds every vehicle of every provider at every time."""
        return (
            self.provider_id is None
            and self.vehicle_types is None
            and self.days is None
            and self.start_time is None
            and self.end_time is None
        )

    def in_force(self) -> bool:
        """Whether the zone carries a rule for vehicles at all (a district does not)."""
        return self.kind is not ZoneKind.DISTRICT

    def policed(self) -> bool:
        """Whether a moving vehicle can break this rule (speed, riding, vehicle type)."""
        return self.kind in {ZoneKind.SLOW, ZoneKind.NO_RIDE, ZoneKind.RESTRICTED}

    def describe(self) -> str:
        """A short sentence for apps to show."""
        match self.kind:
            case ZoneKind.SERVICE_AREA:
                return "vehicles may operate here"
            case ZoneKind.NO_RIDE:
                return "riding is not allowed here"
            case ZoneKind.NO_PARKING:
                return "parking is not allowed here"
            case ZoneKind.SLOW:
                return f"speed limit {self.max_speed_kph} km/h"
            case ZoneKind.PARKING:
                return f"{self.parking or 'preferred'} parking hub"
            case ZoneKind.RESTRICTED:
                return "not allowed for these vehicle types"
            case ZoneKind.DISTRICT:
                return "a district: no rule applies"
        return str(self.kind)
