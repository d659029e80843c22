"""Bounded types for values crossing the API boundary: times within [2018, a horizon],
integers that fit their columns, strings without NUL and with a maximum length.

PostgreSQL refuses NUL in text and JSONB, orjson refuses integers beyond 64 bits, and
`datetime` overflows near year 1 and 9999: each is refused here, once, as bad input.
"""

import math
import re
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    StrictInt,
    StringConstraints,
)

from app.core.mstime import as_utc, from_ms, to_ms

# MDS: no timestamp before 2018-01-01T00:00:00Z.
EARLIEST = datetime(2018, 1, 1, tzinfo=UTC)
# A fixed sanity bound beyond any configured horizon and far inside what `datetime` and
# 64-bit milliseconds hold, so that adding an hour, a day or a month never overflows.
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
EARLIEST_MS = to_ms(EARLIEST)
LATEST_MS = to_ms(LATEST)

INT32_MAX = 2**31 - 1
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

DEFAULT_HORIZON_DAYS = 3650
# How far ahead of now a time may lie; the app sets it per request from its settings.
TIME_HORIZON: ContextVar[timedelta] = ContextVar(
    "fleetbed_time_horizon", default=timedelta(days=DEFAULT_HORIZON_DAYS)
)

NO_NUL = r"^[^\x00]*$"
_RFC3339_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]")


def latest_accepted(now: datetime) -> datetime:
    """The latest time accepted at `now`: the configured horizon ahead, within LATEST."""
    return min(now + TIME_HORIZON.get(), LATEST)


def within_bounds(when: datetime, latest: datetime = LATEST) -> datetime:
    """Aware `when` in UTC if it lies in [EARLIEST, latest]; ValueError otherwise."""
    try:
        utc = as_utc(when)
    except OverflowError as exc:
        # Year 1 or 9999 with an offset that pushes it past what datetime holds.
        raise ValueError("lies outside the calendar") from exc
    if utc < EARLIEST:
        raise ValueError("must not be before 2018-01-01T00:00:00Z")
    if utc > latest:
        raise ValueError(f"must not be after {latest.isoformat()}")
    return utc


def ms_within_bounds(ms: int) -> datetime:
    """The UTC time of integer milliseconds in [EARLIEST_MS, LATEST_MS]; ValueError otherwise."""
    if not EARLIEST_MS <= ms <= LATEST_MS:
        raise ValueError("integer ms must lie from 2018 to 2200")
    return from_ms(ms)


def _in_horizon(when: datetime) -> datetime:
    return within_bounds(when, latest_accepted(datetime.now(UTC)))


def _ms_in_horizon(ms: int) -> int:
    latest = latest_accepted(datetime.now(UTC))
    if ms > to_ms(latest):
        raise ValueError(f"must not be after {latest.isoformat()}")
    return ms


def _date_time_text(value: Any) -> Any:
    # pydantic also reads numbers and digit strings as Unix seconds or milliseconds,
    # which are no RFC 3339 date-time and would silently mean a different instant.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or _RFC3339_DATE.match(value) is None:
        raise ValueError("expected an RFC 3339 date-time, e.g. 2026-10-25T00:00:00Z")
    return value


# An RFC 3339 date-time with a UTC offset, as an aware datetime (offset kept).
Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_date_time_text)]


def integral_float_as_int(value: Any) -> Any:
    """An integral float as its int, anything else untouched for the int check after it."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


# JSON Schema's `integer` (and MDS's timestamp, a number that is a multiple of 1) holds
# `80.0` as well as `80`; such a value is taken and stored as the int. Strings, booleans
# and fractions are still refused by the strict int check.
JsonInt = BeforeValidator(integral_float_as_int)

# An RFC 3339 date-time with an offset, from 2018 to the horizon, as UTC.
UtcDateTime = Annotated[Rfc3339, AfterValidator(_in_horizon)]
# Integer milliseconds since the epoch: a fixed range in the type, cheap enough for the
# ingest hot path, where the clock-dependent check is the caller's (allowed skew).
TimestampMs = Annotated[StrictInt, Field(ge=EARLIEST_MS, le=LATEST_MS), JsonInt]
# Milliseconds from 2018 to the horizon, for query parameters.
HorizonMs = Annotated[int, Field(ge=EARLIEST_MS, le=LATEST_MS), AfterValidator(_ms_in_horizon)]

Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]

# Names, identifiers and one-line values.
SafeStr = Annotated[str, StringConstraints(max_length=255, pattern=NO_NUL)]
# A query parameter's text: coordinates, hours, times.
QueryText = Annotated[str, StringConstraints(max_length=64, pattern=NO_NUL)]
# Free text such as descriptions and messages.
SafeText = Annotated[str, StringConstraints(max_length=4000, pattern=NO_NUL)]


def json_problem(value: Any, path: str = "") -> str | None:
    """Where a free-form JSON value holds something PostgreSQL or orjson refuses, or None."""
    if isinstance(value, str):
        return f"{path or 'value'}: strings must not contain NUL" if "\x00" in value else None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path or 'value'}: numbers must be finite"
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        fits = INT64_MIN <= value <= INT64_MAX
        return None if fits else f"{path or 'value'}: integers must fit in 64 bits"
    if isinstance(value, Mapping):
        for key, item in value.items():
            if "\x00" in key:
                return f"{path or 'value'}: keys must not contain NUL"
            found = json_problem(item, f"{path}.{key}" if path else key)
            if found:
                return found
        return None
    if isinstance(value, Sequence):
        for index, item in enumerate(value):
            found = json_problem(item, f"{path}[{index}]")
            if found:
                return found
    return None


def _safe_json(value: Any) -> Any:
    problem = json_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# A free-form JSON object that is stored as JSONB.
JsonObject = Annotated[dict[str, Any], AfterValidator(_safe_json)]
# Free-form JSON checked as a whole after its shape, so that errors name the field itself.
SafeJson = AfterValidator(_safe_json)
