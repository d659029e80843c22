"""Pydantic building blocks for MDS payloads, shared by every validator; every bound is a
pydantic-core constraint, so the batch fast path stays in compiled code."""

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from app.core.bounded import INT64_MAX, NO_NUL, JsonInt
from app.core.bounded import TimestampMs as TimestampMs
from app.core.errors import BulkFailure
from app.core.mds import UUID_PATTERN

FORBID_EXTRA = ConfigDict(extra="forbid")
# For the objects whose official schema sets no `additionalProperties: false`: MDS lets a
# provider add fields there, so they are kept as given (see `unknown_fields`).
KEEP_EXTRA = ConfigDict(extra="allow")


def field_names(typed_dict: Any) -> frozenset[str]:
    """Every field a TypedDict declares, required or not."""
    return frozenset(typed_dict.__required_keys__ | typed_dict.__optional_keys__)


def unknown_fields(item: Mapping[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """The fields of an open MDS object that fleetbed does not know, as given."""
    if known.issuperset(item):
        # The common case, once per point of every batch: keep it cheap.
        return {}
    return {key: value for key, value in item.items() if key not in known}


MdsUuid = Annotated[StrictStr, Field(pattern=UUID_PATTERN)]
MdsString = Annotated[StrictStr, Field(max_length=255, pattern=NO_NUL)]
# A URL: MDS sets no maximum length, so the bound of free text.
MdsUrl = Annotated[StrictStr, Field(max_length=4000, pattern=NO_NUL)]
# A short name from a vocabulary (event types, trip types).
MdsName = Annotated[StrictStr, Field(max_length=64, pattern=NO_NUL)]
# MDS's `integer-positive`: no maximum in the schema, so the 64 bits every column holds.
PositiveInt = Annotated[StrictInt, Field(ge=0, le=INT64_MAX), JsonInt]
# MDS's `currency-cost`: minor units, never negative, or null.
Cost = Annotated[StrictInt, Field(ge=0, le=INT64_MAX), JsonInt] | None
Percent = Annotated[StrictInt, Field(ge=0, le=100), JsonInt]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Latitude = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-90, le=90)]
Longitude = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-180, le=180)]


def unique_items(values: list[Any]) -> list[Any]:
    """MDS arrays marked `uniqueItems` must not repeat an item."""
    if len(set(values)) != len(values):
        raise ValueError("items must be unique")
    return values


UuidList = Annotated[list[MdsUuid], Field(min_length=1), AfterValidator(unique_items)]


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "item"


def failures_from_errors(item: Any, errors: list[Any]) -> list[BulkFailure]:
    """MDS failures for one item from pydantic error dicts: missing and bad fields apart."""
    missing: list[str] = []
    bad: list[str] = []
    messages: list[str] = []
    for detail in errors:
        name = _field(tuple(detail["loc"]))
        if detail["type"] == "missing":
            missing.append(name)
        else:
            bad.append(name)
            messages.append(f"{name}: {detail['msg']}")
    failures = []
    if missing:
        failures.append(
            BulkFailure(item, "missing_param", "A required parameter is missing", missing)
        )
    if bad:
        description = "A validation error occurred: " + "; ".join(messages)
        failures.append(BulkFailure(item, "bad_param", description, sorted(set(bad))))
    return failures


def failures_from_error(item: Any, error: ValidationError) -> list[BulkFailure]:
    """MDS failures for one item validated on its own."""
    return failures_from_errors(item, error.errors(include_url=False))
