"""The operator's settings of its GBFS system (/v1/gbfs/system), in GBFS's own shapes."""

from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.core.bounded import SafeStr, SafeText, UtcDateTime

# GBFS ids: printable ASCII without space, restricted as the spec recommends.
GbfsId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9.@:/_-]+$")
]
# A system's id is a segment of its feeds' URLs: no `/`.
SystemId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9.@:_-]+$")
]
Language = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
HttpUrl = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://[^\s]+$")]
# A URI with a scheme (app deep links such as com.example.android://).
AppUri = Annotated[
    str, StringConstraints(max_length=2000, pattern=r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$")
]
Email = Annotated[str, StringConstraints(max_length=255, pattern=r"^[^@\s]+@[^@\s]+$")]
Phone = Annotated[str, StringConstraints(pattern=r"^\+[0-9]{4,15}$")]
Ttl = Annotated[int, Field(ge=0, le=86400)]
# The one placeholder a rental URI template may hold: replaced by the public vehicle id.
VEHICLE_ID_PLACEHOLDER = "{vehicle_id}"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LocalizedText(_Body):
    """A text in one language."""

    text: SafeText
    language: Language


class LocalizedUrl(_Body):
    """A URL of a resource in one language."""

    text: HttpUrl
    language: Language


Localized = Annotated[list[LocalizedText], Field(min_length=1, max_length=20)]
LocalizedUrls = Annotated[list[LocalizedUrl], Field(min_length=1, max_length=20)]


class RentalApp(_Body):
    """Where a platform's rental app is downloaded, and how to see it is installed."""

    store_uri: AppUri
    discovery_uri: AppUri


class RentalApps(_Body):
    """The rental apps per platform."""

    android: RentalApp | None = None
    ios: RentalApp | None = None


def _template(value: str | None, field: str) -> None:
    if value is not None and value.replace(VEHICLE_ID_PLACEHOLDER, "").count("{"):
        raise ValueError(f"{field}: only the placeholder {VEHICLE_ID_PLACEHOLDER} is allowed")


class RentalUris(_Body):
    """Deep-link templates per vehicle; `{vehicle_id}` becomes the vehicle's public id."""

    android: AppUri | None = None
    ios: AppUri | None = None
    web: HttpUrl | None = None

    @model_validator(mode="after")
    def _placeholders(self) -> Self:
        for field in ("android", "ios", "web"):
            _template(getattr(self, field), field)
        return self


class PricingSegment(_Body):
    """A rate charged per `interval` km or minutes from `start` until `end`."""

    start: int = Field(ge=0)
    rate: float = Field(ge=-1e6, le=1e6)
    interval: int = Field(ge=0)
    end: int | None = Field(default=None, ge=0)


class PricingPlan(_Body):
    """A pricing plan as GBFS publishes it."""

    plan_id: GbfsId
    url: HttpUrl | None = None
    name: Localized
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    price: float = Field(ge=0, le=1e6)
    is_taxable: bool
    description: Localized
    per_km_pricing: list[PricingSegment] | None = Field(default=None, max_length=20)
    per_min_pricing: list[PricingSegment] | None = Field(default=None, max_length=20)
    surge_pricing: bool | None = None


class VehicleTypeSettings(_Body):
    """What the registry does not say of a vehicle type (ids as in vehicle_types.json)."""

    vehicle_type_id: GbfsId
    name: Localized | None = None
    max_range_meters: float | None = Field(default=None, gt=0, le=5_000_000)
    max_permitted_speed: int | None = Field(default=None, ge=0, le=300)
    rider_capacity: int | None = Field(default=None, ge=0, le=100)
    default_pricing_plan_id: GbfsId | None = None
    pricing_plan_ids: list[GbfsId] | None = Field(default=None, max_length=20)


class AlertType(StrEnum):
    """GBFS alert types."""

    SYSTEM_CLOSURE = "system_closure"
    STATION_CLOSURE = "station_closure"
    STATION_MOVE = "station_move"
    OTHER = "other"


class AlertTimes(_Body):
    """When an alert is in effect."""

    start: UtcDateTime
    end: UtcDateTime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class OperatorAlert(_Body):
    """An alert the operator publishes (fleetbed adds those of closure zones)."""

    alert_id: GbfsId
    type: AlertType = AlertType.OTHER
    times: list[AlertTimes] | None = Field(default=None, max_length=20)
    station_ids: list[GbfsId] | None = Field(default=None, max_length=100)
    region_ids: list[GbfsId] | None = Field(default=None, max_length=100)
    url: LocalizedUrls | None = None
    summary: Localized
    description: Annotated[list[LocalizedText], Field(min_length=1, max_length=20)] | None = None


class FeedTtls(_Body):
    """Seconds each file is served from the cache before it is built again."""

    gbfs: Ttl = 300
    manifest: Ttl = 300
    gbfs_versions: Ttl = 300
    system_information: Ttl = 300
    vehicle_types: Ttl = 300
    vehicle_status: Ttl = 10
    station_information: Ttl = 300
    station_status: Ttl = 10
    geofencing_zones: Ttl = 60
    system_regions: Ttl = 300
    system_alerts: Ttl = 60
    system_pricing_plans: Ttl = 300


class GbfsSystemBody(_Body):
    """A provider's GBFS system; what is left out takes a default (see each field)."""

    system_id: SystemId | None = Field(
        default=None, description="Default: the provider's name in lower case, as an id."
    )
    published: bool = Field(default=True, description="False: the feeds answer 404.")
    languages: list[Language] | None = Field(
        default=None, min_length=1, max_length=20, description="Default: the deployment's."
    )
    name: Localized | None = Field(default=None, description="Default: the provider's name.")
    short_name: Localized | None = None
    operator: Localized | None = None
    url: HttpUrl | None = None
    purchase_url: HttpUrl | None = None
    phone_number: Phone | None = None
    email: Email | None = None
    feed_contact_email: Email | None = Field(default=None, description="Default: deployment's.")
    opening_hours: SafeStr = Field(default="24/7", description="OSM opening_hours syntax.")
    start_date: date | None = None
    license_id: SafeStr | None = Field(default=None, description="An SPDX licence id.")
    license_url: HttpUrl | None = None
    terms_url: LocalizedUrls | None = None
    terms_last_updated: date | None = None
    privacy_url: LocalizedUrls | None = None
    privacy_last_updated: date | None = None
    rental_apps: RentalApps | None = None
    rental_uris: RentalUris | None = None
    vehicle_types: list[VehicleTypeSettings] = Field(default_factory=list, max_length=50)
    pricing_plans: list[PricingPlan] = Field(default_factory=list, max_length=50)
    alerts: list[OperatorAlert] = Field(default_factory=list, max_length=100)
    ttl: FeedTtls = Field(default_factory=FeedTtls)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.license_id and self.license_url:
            raise ValueError("license_id and license_url: give one of them, not both")
        for url, updated in (
            ("terms_url", "terms_last_updated"),
            ("privacy_url", "privacy_last_updated"),
        ):
            if getattr(self, url) and getattr(self, updated) is None:
                raise ValueError(f"{updated} is required with {url}")
        plans = [p.plan_id for p in self.pricing_plans]
        if len(set(plans)) != len(plans):
            raise ValueError("pricing_plans: plan_id must be unique")
        for vt in self.vehicle_types:
            named = [vt.default_pricing_plan_id, *(vt.pricing_plan_ids or [])]
            unknown = [p for p in named if p is not None and p not in plans]
            if unknown:
                raise ValueError(
                    f"vehicle_types {vt.vehicle_type_id}: no pricing plan {unknown[0]}"
                )
        types = [vt.vehicle_type_id for vt in self.vehicle_types]
        if len(set(types)) != len(types):
            raise ValueError("vehicle_types: vehicle_type_id must be unique")
        alerts = [a.alert_id for a in self.alerts]
        if len(set(alerts)) != len(alerts):
            raise ValueError("alerts: alert_id must be unique")
        if self.languages is not None and (problem := self.untranslated(self.languages)):
            raise ValueError(problem)
        return self

    def untranslated(self, languages: Sequence[str]) -> str | None:
        """The first localized field not given in exactly `languages` (GBFS requires a
        text in each of the system's languages), or None."""
        for path, texts in self.localized():
            given = [t.language for t in texts]
            if sorted(given) != sorted(set(languages)):
                return f"{path}: give one text in each of the languages {sorted(set(languages))}"
        return None

    def localized(self) -> list[tuple[str, list[LocalizedText] | list[LocalizedUrl]]]:
        """Every localized field that is set, with its path."""
        found: list[tuple[str, list[LocalizedText] | list[LocalizedUrl]]] = []
        for field in ("name", "short_name", "operator", "terms_url", "privacy_url"):
            if (value := getattr(self, field)) is not None:
                found.append((field, value))
        for i, vt in enumerate(self.vehicle_types):
            if vt.name is not None:
                found.append((f"vehicle_types[{i}].name", vt.name))
        for i, plan in enumerate(self.pricing_plans):
            found += [(f"pricing_plans[{i}].name", plan.name)]
            found += [(f"pricing_plans[{i}].description", plan.description)]
        for i, alert in enumerate(self.alerts):
            for field in ("summary", "description", "url"):
                if (value := getattr(alert, field)) is not None:
                    found.append((f"alerts[{i}].{field}", value))
        return found


class GbfsSystemRead(GbfsSystemBody):
    """The settings with the system's id and feed URL as published."""

    system_id: SystemId
    gbfs_url: str


class PublicVehicleRead(_Body):
    """A public vehicle id mapped back to the operator's device."""

    vehicle_id: str
    device_id: str
