"""Local-time rule windows, including the DST changes in Europe/Stockholm (pure)."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from geofencing.schedule import active_at

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_no_window_is_always_active_on_its_days() -> None:
    assert active_at(utc(2026, 11, 26, 12), STOCKHOLM)  # a Thursday
    assert active_at(utc(2026, 11, 26, 12), STOCKHOLM, days={"thu"})
    assert not active_at(utc(2026, 11, 26, 12), STOCKHOLM, days={"fri", "sat"})


def test_day_is_the_local_day_not_the_utc_day() -> None:
    # 23:30 UTC on a Thursday is 00:30 on Friday in Stockholm (winter, UTC+1).
    late = utc(2026, 11, 26, 23, 30)
    assert active_at(late, STOCKHOLM, days={"fri"})
    assert not active_at(late, STOCKHOLM, days={"thu"})


@pytest.mark.parametrize(
    ("hour_utc", "expected"),
    [(5, False), (6, True), (15, True), (16, False)],
)
def test_daytime_window_in_local_time(hour_utc: int, expected: bool) -> None:
    # 07:00-17:00 local in winter is 06:00-16:00 UTC.
    when = utc(2026, 1, 14, hour_utc)
    assert active_at(when, STOCKHOLM, start=time(7), end=time(17)) is expected


def test_window_past_midnight_belongs_to_the_day_it_starts() -> None:
    rule = {"days": {"fri"}, "start": time(22), "end": time(4)}
    friday_night = datetime(2026, 11, 27, 23, 0, tzinfo=STOCKHOLM)
    saturday_early = datetime(2026, 11, 28, 3, 0, tzinfo=STOCKHOLM)
    saturday_night = datetime(2026, 11, 28, 23, 0, tzinfo=STOCKHOLM)
    sunday_early = datetime(2026, 11, 29, 3, 0, tzinfo=STOCKHOLM)
    assert active_at(friday_night, STOCKHOLM, **rule)  # type: ignore[arg-type]
    assert active_at(saturday_early, STOCKHOLM, **rule)  # type: ignore[arg-type]
    assert not active_at(saturday_night, STOCKHOLM, **rule)  # type: ignore[arg-type]
    assert not active_at(sunday_early, STOCKHOLM, **rule)  # type: ignore[arg-type]


def _active_minutes(day_start_utc: datetime, start: time, end: time) -> int:
    return sum(
        active_at(day_start_utc + timedelta(minutes=m), STOCKHOLM, start=start, end=end)
        for m in range(24 * 60)
    )


def test_spring_forward_shortens_a_window_across_the_gap() -> None:
    # 2026-03-29: clocks jump from 02:00 to 03:00 local (01:00 UTC).
    minutes = _active_minutes(utc(2026, 3, 28, 23), time(1, 30), time(3, 30))
    assert minutes == 60  # 01:30-02:00 and 03:00-03:30 local
    assert active_at(utc(2026, 3, 29, 0, 45), STOCKHOLM, start=time(1, 30), end=time(3, 30))
    assert active_at(utc(2026, 3, 29, 1, 15), STOCKHOLM, start=time(1, 30), end=time(3, 30))
    assert not active_at(utc(2026, 3, 29, 1, 45), STOCKHOLM, start=time(1, 30), end=time(3, 30))


def test_fall_back_lengthens_a_window_across_the_repeat() -> None:
    # 2026-10-25: clocks go back from 03:00 to 02:00 local (01:00 UTC); 02:xx happens twice.
    minutes = _active_minutes(utc(2026, 10, 24, 22), time(1, 30), time(3, 30))
    assert minutes == 180
    for when in (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)):  # 02:30 both times
        assert active_at(when, STOCKHOLM, start=time(1, 30), end=time(3, 30))
