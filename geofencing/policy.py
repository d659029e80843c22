"""MDS 2.0 Policy and Rule documents: parsing, validation and the MDS JSON form (pure).

The models follow the official OpenAPI models `models/policy.yaml` and
`models/policy-rule.yaml` of MDS 2.0.2, field for field, with unknown fields refused
(the schema refuses them in rules only; a policy with a stray field is refused too).
Where the prose of `spec/policy/README.md` adds a "must" the schema cannot express, it is
checked here too: `start_date` at least 20 minutes after `published_date`, `end_date`
after `start_date`, unique `rule_id`s. Choices where the two texts disagree:

- `end_date`, `prev_policies`, `provider_ids`, `vehicle_types` and `propulsion_types`
  may be `null` on input (the spec's prose and examples use it) but are left out of the
  MDS output, because the schema types them as number / array only.
- `rules` needs at least one rule (schema `minItems: 1`), although the prose says a
  policy is ended by publishing one with empty rules: end a policy with `end_date`.
- `accessibility_options` is listed in the prose but absent from the schema, which has
  `additionalProperties: false`; it is refused.
- `states` values must be arrays (schema), not `null`.

Build a `Policy` from untrusted data with `parse_policy`; every failure is a
`PolicyError` naming the field by its path, e.g. `rules[0].rule_units`.
"""

from collections.abc import Hashable, Mapping, Sequence
from typing import Annotated, Any, Literal, Self, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.core.bounded import EARLIEST_MS, LATEST_MS, NO_NUL, Int64, SafeText
from app.core.errors import InvalidInput
from app.core.mds import UUID_PATTERN, VehicleState

MIN_LEAD_TIME_MS = 20 * 60 * 1000  # start_date must be >= 20 minutes after published_date

_H = TypeVar("_H", bound=Hashable)

Mode = Literal["car-share", "delivery-robots", "micromobility", "passenger-services"]
RuleType = Literal["count", "time", "speed", "user"]
RuleUnit = Literal["seconds", "minutes", "hours", "days", "mph", "kph", "devices"]
RateRecurrence = Literal[
    "once_on_match", "once_on_unmatch", "each_time_unit", "per_complete_time_unit"
]
RateAppliesWhen = Literal["in_bounds", "out_of_bounds"]
Day = Literal["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
EventType = Literal[
    "agency_drop_off",
    "agency_pick_up",
    "battery_charged",
    "battery_low",
    "changed_geographies",
    "charging_end",
    "charging_start",
    "comms_lost",
    "comms_restored",
    "compliance_pick_up",
    "customer_cancellation",
    "decommissioned",
    "driver_cancellation",
    "fueling_end",
    "fueling_start",
    "located",
    "maintenance",
    "maintenance_end",
    "maintenance_pick_up",
    "not_located",
    "off_hours",
    "on_hours",
    "order_drop_off",
    "order_pick_up",
    "passenger_cancellation",
    "provider_cancellation",
    "provider_drop_off",
    "rebalance_pick_up",
    "recommission",
    "remote_end",
    "remote_start",
    "reservation_cancel",
    "reservation_start",
    "reservation_stop",
    "service_end",
    "service_start",
    "system_resume",
    "system_suspend",
    "trip_cancel",
    "trip_end",
    "trip_enter_jurisdiction",
    "trip_leave_jurisdiction",
    "trip_pause",
    "trip_resume",
    "trip_start",
    "trip_stop",
    "unspecified",
]
VehicleType = Literal[
    "bicycle",
    "bus",
    "cargo_bicycle",
    "car",
    "delivery_robot",
    "moped",
    "motorcycle",
    "scooter_standing",
    "scooter_seated",
    "truck",
    "other",
]
PropulsionType = Literal[
    "human",
    "electric_assist",
    "electric",
    "combustion",
    "combustion_diesel",
    "hybrid",
    "hydrogen_fuel_cell",
    "plug_in_hybrid",
]

# Units each rule type may use, and the rate recurrences it may use (policy-rule.yaml oneOf).
UNITS_BY_TYPE: Mapping[str, frozenset[str]] = {
    "count": frozenset({"devices"}),
    "speed": frozenset({"mph", "kph"}),
    "time": frozenset({"seconds", "minutes", "hours", "days"}),
    "user": frozenset(),
}
RECURRENCES_BY_TYPE: Mapping[str, frozenset[str]] = {
    "count": frozenset({"once_on_match", "once_on_unmatch"}),
    "speed": frozenset({"once_on_match", "once_on_unmatch"}),
    "time": frozenset({"each_time_unit", "per_complete_time_unit"}),
    "user": frozenset(),
}


def _field_error(field: str, reason: str) -> PydanticCustomError:
    # The field is carried in the context so that PolicyError can name it by its path,
    # which a model-level validator's location alone would not.
    return PydanticCustomError("policy_field", "{reason}", {"field": field, "reason": reason})


def _unique(items: list[_H]) -> list[_H]:
    if len(set(items)) != len(items):
        raise PydanticCustomError("unique_items", "items must be unique")
    return items


def _one_line(value: str) -> str:
    if any(c in value for c in "\n\r\u2028\u2029"):
        raise PydanticCustomError("one_line", "must not contain line breaks")
    return value


def _absolute_uri(value: str) -> str:
    parts = urlsplit(value)
    if not parts.scheme or not (parts.netloc or parts.path) or any(c.isspace() for c in value):
        raise PydanticCustomError("uri", "must be an absolute URI")
    return value


# A UUID in the lowercase form MDS requires (data-types/uuid.yaml).
Uuid = Annotated[str, StringConstraints(pattern=UUID_PATTERN)]
UuidList = Annotated[list[Uuid], AfterValidator(_unique)]
# data-types/string.yaml: at most 255 characters, no line breaks (`^(.*)$`).
MdsString = Annotated[
    str, StringConstraints(max_length=255, pattern=NO_NUL), AfterValidator(_one_line)
]
# ISO 8601 hh:mm:ss; stricter than the unanchored pattern of data-types/iso-time.yaml.
IsoTime = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$")]
LanguageTag = Annotated[
    str,
    StringConstraints(
        pattern=r"^[A-Za-z]{2,3}(-[A-Za-z]{3}){0,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?$"
    ),
]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Uri = Annotated[
    str, StringConstraints(max_length=2048, pattern=NO_NUL), AfterValidator(_absolute_uri)
]


def _timestamp_range(value: int) -> int:
    if not EARLIEST_MS <= value <= LATEST_MS:
        raise PydanticCustomError(
            "timestamp", "must be integer milliseconds since the epoch, from 2018 to 2200"
        )
    return value


Timestamp = Annotated[int, AfterValidator(_timestamp_range)]


class _Strict(BaseModel):
    # strict: "5" is not an integer and 1.5e12 is not a millisecond timestamp.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Rule(_Strict):
    """One MDS 2.0 policy rule (models/policy-rule.yaml)."""

    name: MdsString
    rule_id: Uuid
    rule_type: RuleType
    geographies: UuidList
    states: dict[VehicleState, Annotated[list[EventType], AfterValidator(_unique)]]
    rule_units: RuleUnit | None = None
    vehicle_types: Annotated[list[VehicleType], AfterValidator(_unique)] | None = None
    propulsion_types: Annotated[list[PropulsionType], AfterValidator(_unique)] | None = None
    minimum: Int64 | None = 0
    maximum: Int64 | None = None
    inclusive_minimum: bool | None = True
    inclusive_maximum: bool | None = True
    rate_amount: Int64 | None = None
    rate_recurrence: RateRecurrence | None = None
    rate_applies_when: RateAppliesWhen | None = None
    start_time: IsoTime | None = None
    end_time: IsoTime | None = None
    days: Annotated[list[Day], AfterValidator(_unique)] | None = None
    messages: dict[LanguageTag, SafeText] | None = None
    value_url: Uri | None = None

    @model_validator(mode="after")
    def _check_type(self) -> Self:
        if not self.geographies:
            raise _field_error("geographies", "at least one geography is required")
        units = UNITS_BY_TYPE[self.rule_type]
        if units and self.rule_units not in units:
            raise _field_error(
                "rule_units",
                f"{self.rule_type} rules need rule_units one of {', '.join(sorted(units))}",
            )
        if self.rule_type == "user":
            for name in ("rule_units", "rate_amount", "rate_recurrence", "rate_applies_when"):
                if getattr(self, name) is not None:
                    raise _field_error(name, "user rules carry no units and no rates")
        recurrences = RECURRENCES_BY_TYPE[self.rule_type]
        if self.rate_recurrence is not None and self.rate_recurrence not in recurrences:
            raise _field_error(
                "rate_recurrence",
                f"{self.rule_type} rules take rate_recurrence one of "
                f"{', '.join(sorted(recurrences))}",
            )
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise _field_error("minimum", "minimum is greater than maximum")
        return self


class Policy(_Strict):
    """One MDS 2.0 policy (models/policy.yaml)."""

    name: MdsString
    mode_id: Mode = "micromobility"
    policy_id: Uuid
    provider_ids: UuidList | None = None
    description: MdsString
    currency: Currency | None = None
    start_date: Timestamp
    end_date: Timestamp | None = None
    published_date: Timestamp
    prev_policies: UuidList | None = None
    rules: list[Rule]

    @model_validator(mode="after")
    def _check_dates_and_rules(self) -> Self:
        if not self.rules:
            raise _field_error("rules", "a policy needs at least one rule")
        if self.start_date < self.published_date + MIN_LEAD_TIME_MS:
            raise _field_error("start_date", "must be at least 20 minutes after published_date")
        if self.end_date is not None and self.end_date <= self.start_date:
            raise _field_error("end_date", "must be after start_date")
        seen: set[str] = set()
        for index, rule in enumerate(self.rules):
            if rule.rule_id in seen:
                raise _field_error(f"rules[{index}].rule_id", "rule_id is not unique")
            seen.add(rule.rule_id)
        return self


class PolicyError(InvalidInput, ValueError):
    """A policy document is not valid MDS 2.0; `fields` name every bad field by path."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        detail = "; ".join(f"{path}: {message}" if path else message for path, message in problems)
        super().__init__(detail, fields=tuple(path for path, _ in problems))
        self.problems = tuple(problems)

    @property
    def field(self) -> str:
        """The path of the first bad field, e.g. `rules[0].rule_units`."""
        return self.fields[0] if self.fields else ""


def _path(loc: Sequence[int | str], extra: str | None) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part == "[key]":
            continue  # a dict key's own error: the key is already the last part
        elif not text:
            text = part
        else:
            text += f".{part}"
    if extra:
        return f"{text}.{extra}" if text else extra
    return text


def _problems(error: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for item in error.errors(include_url=False):
        ctx = item.get("ctx") or {}
        extra = ctx.get("field") if item["type"] == "policy_field" else None
        message = "unknown field" if item["type"] == "extra_forbidden" else item["msg"]
        problems.append((_path(item["loc"], extra), message))
    return problems


def parse_policy(data: Any) -> Policy:
    """Validate an MDS policy object (parsed JSON); raise PolicyError naming bad fields."""
    if not isinstance(data, Mapping):
        raise PolicyError([("", "a policy must be a JSON object")])
    try:
        return Policy.model_validate(dict(data))
    except ValidationError as error:
        raise PolicyError(_problems(error)) from None


def policy_to_mds(policy: Policy) -> dict[str, Any]:
    """The policy as an MDS 2.0 JSON object: the fields it was given, nulls left out."""
    given = policy.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    given.setdefault("mode_id", policy.mode_id)  # required by models/policy.yaml
    return {name: given[name] for name in Policy.model_fields if name in given}
