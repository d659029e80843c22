"""The bounded types of `app.core.bounded` and the parsers that use them."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter, ValidationError

from app.core.auth import Mode
from app.core.bounded import (
    EARLIEST,
    EARLIEST_MS,
    LATEST,
    LATEST_MS,
    TIME_HORIZON,
    HorizonMs,
    Int64,
    JsonObject,
    SafeStr,
    TimestampMs,
    UtcDateTime,
    json_problem,
    latest_accepted,
    within_bounds,
)
from app.core.errors import InvalidInput
from app.core.mds_batch import BatchLimits, parse_batch, unknown_field_problems
from app.core.mds_types import MdsString, PositiveInt, unknown_fields
from fleet.exports.request import parse_time as export_time
from fleet.reporting.hours import parse_hour
from fleet.reporting.metrics_catalog import parse_time as metrics_time
from fleet.trips.schema import trip_schema


def test_the_fixed_bounds_agree_with_their_millisecond_forms() -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert (EARLIEST - epoch) // timedelta(milliseconds=1) == EARLIEST_MS
    assert (LATEST - epoch) // timedelta(milliseconds=1) == LATEST_MS


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "2017-12-31T23:59:59.999Z",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-01:00",
        "2026-11-26T12:00:00",
    ],
)
def test_utc_datetimes_out_of_range_or_without_offset_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(UtcDateTime).validate_python(text)


@pytest.mark.parametrize("body", ["1700000000", "1700000000000", '"1700000000"', '"2026-11-26"'])
def test_utc_datetimes_are_rfc_3339_not_unix_time(body: str) -> None:
    # pydantic alone would read these as Unix seconds or milliseconds, or as midnight.
    with pytest.raises(ValidationError, match="expected an RFC 3339 date-time"):
        TypeAdapter(UtcDateTime).validate_json(body)


def test_utc_datetimes_in_range_come_back_in_utc() -> None:
    when = TypeAdapter(UtcDateTime).validate_python("2026-03-29T03:30:00+02:00")
    assert when == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert when.tzinfo is UTC


def test_the_horizon_follows_the_context() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert latest_accepted(now) == now + timedelta(days=3650)
    token = TIME_HORIZON.set(timedelta(days=1))
    try:
        assert latest_accepted(now) == now + timedelta(days=1)
        soon = (datetime.now(UTC) + timedelta(hours=12)).isoformat()
        later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
        TypeAdapter(UtcDateTime).validate_python(soon)
        with pytest.raises(ValidationError):
            TypeAdapter(UtcDateTime).validate_python(later)
    finally:
        TIME_HORIZON.reset(token)
    assert latest_accepted(datetime(2199, 1, 1, tzinfo=UTC)) == LATEST


def test_within_bounds_is_inclusive_at_both_ends() -> None:
    assert within_bounds(EARLIEST) == EARLIEST
    assert within_bounds(LATEST) == LATEST
    for outside in (EARLIEST - timedelta(microseconds=1), LATEST + timedelta(microseconds=1)):
        with pytest.raises(ValueError, match="must not be"):
            within_bounds(outside)


@pytest.mark.parametrize(
    ("adapter", "good", "bad"),
    [
        (TimestampMs, [EARLIEST_MS, LATEST_MS], [EARLIEST_MS - 1, LATEST_MS + 1, 10**30]),
        (HorizonMs, [EARLIEST_MS], [EARLIEST_MS - 1, LATEST_MS, 10**20]),
        (Int64, [-(2**63), 2**63 - 1], [2**63, -(2**63) - 1]),
        (PositiveInt, [0, 2**63 - 1], [-1, 2**63, 10**30]),
    ],
)
def test_integers_are_bounded(adapter: Any, good: list[int], bad: list[int]) -> None:
    validator: TypeAdapter[int] = TypeAdapter(adapter)
    for value in good:
        assert validator.validate_json(str(value)) == value
    for value in bad:
        with pytest.raises(ValidationError):
            validator.validate_json(str(value))


@pytest.mark.parametrize("adapter", [SafeStr, MdsString])
def test_strings_refuse_nul_and_excess_length(adapter: Any) -> None:
    validator: TypeAdapter[str] = TypeAdapter(adapter)
    assert validator.validate_json('"a\\\\u0000"') == "a\\u0000"
    for body in ('"a\\u0000b"', json.dumps("x" * 256)):
        with pytest.raises(ValidationError):
            validator.validate_json(body)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"a": {"b": [1, 2.5, True, None, "x"]}}, None),
        ({"a": {"b": ["x\x00"]}}, "a.b[0]: strings must not contain NUL"),
        ({"a\x00": 1}, "value: keys must not contain NUL"),
        ({"a": [{"n": 10**30}]}, "a[0].n: integers must fit in 64 bits"),
        ({"a": float("inf")}, "a: numbers must be finite"),
        ({"a": "\\u0000"}, None),
    ],
)
def test_free_form_json_is_searched_to_the_bottom(value: Any, problem: str | None) -> None:
    assert json_problem(value) == problem
    if problem is not None:
        with pytest.raises(ValidationError):
            TypeAdapter(JsonObject).validate_python(value)


@pytest.mark.parametrize("text", ["9999-12-31T23", "0001-01-01T00", "2017-12-31T23"])
def test_provider_hours_out_of_range_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="must not be"):
        parse_hour(text)


@pytest.mark.parametrize(
    "value", ["9999-12-31T23:00-01:00", "0001-01-01T00:00+01:00", "0001-01-01T00:00", 10**15]
)
def test_metrics_times_out_of_range_are_refused(value: str | int) -> None:
    with pytest.raises(InvalidInput) as caught:
        metrics_time(value, ZoneInfo("America/New_York"), "start_date")
    assert caught.value.fields == ("start_date",)


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z"])
def test_export_times_out_of_range_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        export_time("to", text)
    assert caught.value.fields == ("to",)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-11-26T12:00:00", "give a time zone offset"),
        ("1700000000", "expected an RFC 3339 date-time"),
        ("2026-11-26T12:00:00 01:00", r"not an RFC 3339 date-time: .* \(send '\+' as %2B\)"),
        ("2017-12-31T23:59:59Z", "must not be before 2018"),
    ],
)
def test_export_times_say_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=f"^from: {reason}") as caught:
        export_time("from", text)
    assert caught.value.fields == ("from",)


def test_export_times_reach_beyond_the_horizon_and_come_back_in_utc() -> None:
    assert export_time("to", "2199-06-01T02:00:00+02:00") == datetime(2199, 6, 1, tzinfo=UTC)


def test_a_batch_refused_whole_but_not_item_by_item_still_names_its_fault() -> None:
    # orjson reads 10**30 as a float, which free-form JSON accepts; the whole-body
    # pass read it as an integer beyond 64 bits and refused it.
    provider = "00000000-0000-4000-8000-000000000001"
    trip = {
        "provider_id": provider,
        "device_id": "00000000-0000-4000-8000-000000000002",
        "trip_id": "00000000-0000-4000-8000-000000000003",
        "start_time": EARLIEST_MS,
        "end_time": EARLIEST_MS + 1000,
        "start_location": {"lat": 56.0, "lng": 12.7},
        "end_location": {"lat": 56.0, "lng": 12.7},
        "duration": 1,
        "distance": 1,
        "accessibility_attributes": {"n": 10**30},
    }
    limits = BatchLimits(now_ms=EARLIEST_MS + 10_000, max_future_ms=0, max_items=10)
    schema = trip_schema(provider, Mode.MICROMOBILITY)
    parsed = parse_batch(json.dumps([trip]).encode(), schema, limits)
    assert parsed.items == []
    (failure,) = parsed.failures
    assert failure.error_details == ["accessibility_attributes"]


@pytest.mark.parametrize("adapter", [TimestampMs, PositiveInt])
def test_an_integral_float_is_taken_as_the_integer(adapter: Any) -> None:
    validator: TypeAdapter[int] = TypeAdapter(adapter)
    taken = validator.validate_json("1600000000000.0" if adapter is TimestampMs else "80.0")
    assert type(taken) is int
    assert taken == (1_600_000_000_000 if adapter is TimestampMs else 80)


@pytest.mark.parametrize("body", ["80.5", '"80"', "true", "1e400", "null"])
def test_a_fraction_string_or_boolean_is_still_not_an_integer(body: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(PositiveInt).validate_json(body)


def test_unknown_fields_are_those_not_declared() -> None:
    known = frozenset({"lat", "lng"})
    assert unknown_fields({"lat": 1.0, "lng": 2.0}, known) == {}
    assert unknown_fields({"lat": 1.0, "hdop": 0.9, "fix": "3d"}, known) == {
        "hdop": 0.9,
        "fix": "3d",
    }


def test_unknown_fields_must_be_storable() -> None:
    known = frozenset({"lat"})
    problems = unknown_field_problems(
        {"lat": 1.0, "ok": [1, "a"], "big": 2**64, "bad\x00": 1, "text": "a\x00"},
        known,
        "location.",
    )
    assert sorted(p.field for p in problems) == [
        "location.bad\x00",
        "location.big",
        "location.text",
    ]
