"""MDS Provider hours (pure)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from fleet.reporting.hours import (
    HourState,
    WindowError,
    hour_state,
    month_bounds,
    parse_hour,
    parse_month,
    period_state,
    recent_window,
    served_as_settled,
)


def test_parse_hour_is_utc_and_accepts_november() -> None:
    # The official iso-dayhour pattern rejects month 11; this does not.
    assert parse_hour("2026-11-26T07") == datetime(2026, 11, 26, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-11-26",
        "2026-11-26T7",
        "2026-11-26T24",
        "2026-13-01T00",
        "2026-02-30T00",
        "26-11-26T07",
        "2026-11-26T07:00",
    ],
)
def test_malformed_hours_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r".+"):
        parse_hour(text)


def test_hour_states() -> None:
    hour = datetime(2026, 11, 26, 7, tzinfo=UTC)
    late = timedelta(minutes=15)
    assert hour_state(hour, hour + timedelta(minutes=59), late) is HourState.FUTURE
    assert hour_state(hour, hour + timedelta(minutes=60), late) is HourState.SETTLING
    assert hour_state(hour, hour + timedelta(minutes=74), late) is HourState.SETTLING
    assert hour_state(hour, hour + timedelta(minutes=75), late) is HourState.CLOSED


def test_period_state_is_the_hour_rule_for_any_end() -> None:
    end = datetime(2026, 12, 1, tzinfo=UTC)
    late = timedelta(minutes=15)
    assert period_state(end, end - timedelta(seconds=1), late) is HourState.FUTURE
    assert period_state(end, end + timedelta(minutes=14), late) is HourState.SETTLING
    assert period_state(end, end + late, late) is HourState.CLOSED


@pytest.mark.parametrize(
    ("after_end", "settled"),
    [
        (timedelta(minutes=-1), False),
        (timedelta(0), False),
        (timedelta(minutes=15) - timedelta(microseconds=1), False),
        (timedelta(minutes=15), True),
        (timedelta(days=400), True),
    ],
)
def test_a_period_is_served_as_settled_once_the_lateness_has_passed(
    after_end: timedelta, settled: bool
) -> None:
    end = datetime(2026, 11, 26, 8, tzinfo=UTC)
    assert served_as_settled(end, end + after_end, timedelta(minutes=15)) is settled


def test_without_lateness_a_period_is_settled_when_it_ends() -> None:
    end = datetime(2026, 11, 26, 8, tzinfo=UTC)
    assert served_as_settled(end, end, timedelta(0))
    assert not served_as_settled(end, end - timedelta(microseconds=1), timedelta(0))


def test_months_accept_november_and_refuse_the_malformed() -> None:
    assert parse_month("2026-11") == date(2026, 11, 1)
    for text in ("", "2026-13", "2026-00", "2026-1", "26-11", "2026-11-01", "1969-12", "9999-12"):
        with pytest.raises(ValueError, match=r".+"):
            parse_month(text)


def test_months_are_local_in_stockholm() -> None:
    # Winter time (UTC+1) at both ends of November; summer time (UTC+2) on 1 October.
    assert month_bounds(date(2026, 11, 1), "Europe/Stockholm") == (
        datetime(2026, 10, 31, 23, tzinfo=UTC),
        datetime(2026, 11, 30, 23, tzinfo=UTC),
    )
    assert month_bounds(date(2026, 10, 1), "Europe/Stockholm")[0] == datetime(
        2026, 9, 30, 22, tzinfo=UTC
    )
    assert month_bounds(date(2026, 12, 1), "UTC") == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )


NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
SKEW = timedelta(minutes=5)


def ms(when: datetime) -> str:
    return str(int(when.timestamp() * 1000))


def test_a_recent_window_is_read_exactly() -> None:
    start, end = NOW - timedelta(days=13, hours=23), NOW
    assert recent_window(ms(start), ms(end), NOW, SKEW) == (start, end)
    assert recent_window("1795694400123", ms(NOW + SKEW), NOW, SKEW)[0] == datetime(
        2026, 11, 26, 12, 0, 0, 123_000, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (None, ms(NOW), "start_time"),
        (ms(NOW - timedelta(hours=1)), None, "end_time"),
        ("1.5", ms(NOW), "start_time"),
        (ms(NOW - timedelta(hours=1)), "-1", "end_time"),
        (ms(NOW - timedelta(hours=1)), "9" * 15, "end_time"),
        (ms(NOW - timedelta(days=14, seconds=1)), ms(NOW), "start_time"),
        (ms(NOW), ms(NOW), "end_time"),
        (ms(NOW), ms(NOW - timedelta(hours=1)), "end_time"),
        (ms(NOW), ms(NOW + SKEW + timedelta(seconds=1)), "end_time"),
    ],
)
def test_bad_recent_windows_name_their_field(
    start: str | None, end: str | None, field: str
) -> None:
    with pytest.raises(WindowError) as caught:
        recent_window(start, end, NOW, SKEW)
    assert caught.value.field == field
