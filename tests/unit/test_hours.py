"""MDS Provider hours (pure)."""

from datetime import UTC, datetime, timedelta

import pytest

from fleet.reporting.hours import HourState, hour_state, parse_hour


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
