"""Partition naming and the maintenance calendar (pure)."""

from datetime import UTC, date, datetime

from telemetry.partitions import day_of_name, days_ahead, days_of, expired, partition_name


def test_names_round_trip() -> None:
    day = date(2026, 11, 26)
    assert partition_name(day) == "telemetry_p20261126"
    assert day_of_name(partition_name(day)) == day
    assert day_of_name("telemetry_staging") is None
    assert day_of_name("telemetry_p2026113") is None


def test_days_of_timestamps_are_utc_days() -> None:
    before_midnight = int(datetime(2026, 3, 28, 23, 59, 59, 999000, tzinfo=UTC).timestamp() * 1000)
    after_midnight = before_midnight + 1
    assert days_of([before_midnight, after_midnight]) == {date(2026, 3, 28), date(2026, 3, 29)}


def test_days_ahead_runs_from_yesterday() -> None:
    assert days_ahead(date(2026, 12, 30), 3) == [
        date(2026, 12, 29),
        date(2026, 12, 30),
        date(2026, 12, 31),
        date(2027, 1, 1),
        date(2027, 1, 2),
    ]


def test_expired_keeps_the_retention_window() -> None:
    days = [date(2026, 8, 1), date(2026, 8, 27), date(2026, 8, 28), date(2026, 11, 26)]
    assert expired(days, date(2026, 11, 26), 90) == [date(2026, 8, 1), date(2026, 8, 27)]
