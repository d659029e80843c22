"""Pydantic building blocks for MDS payloads, shared by every validator; every bound is a
pydantic-core constraint, so the batch fast path stays in compiled code."""

from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from app.core.bounded import INT32_MAX, MAX_DURATION_S, NO_NUL
from app.core.bounded import TimestampMs as TimestampMs
from app.core.errors import BulkFailure
from app.core.mds import UUID_PATTERN

FORBID_EXTRA = ConfigDict(extra="forbid")

MdsUuid = Annotated[StrictStr, Field(pattern=UUID_PATTERN)]
MdsString = Annotated[StrictStr, Field(max_length=255, pattern=NO_NUL)]
# A short name from a vocabulary (event types, trip types).
MdsName = Annotated[StrictStr, Field(max_length=64, pattern=NO_NUL)]
PositiveInt = Annotated[StrictInt, Field(ge=0, le=INT32_MAX)]
Amount = Annotated[StrictInt, Field(ge=-INT32_MAX - 1, le=INT32_MAX)]
Duration = Annotated[StrictInt, Field(ge=0, le=MAX_DURATION_S)]
Percent = Annotated[StrictInt, Field(ge=0, le=100)]
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
