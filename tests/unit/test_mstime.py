"""MDS time: integer ms ↔ aware UTC datetimes, exact to the millisecond at any date."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.mstime import EPOCH, as_utc, from_ms, now_ms, rfc3339_ms, to_ms

# Milliseconds from year 1 to 9998, all that datetime holds with room for an offset.
ANY_MS = st.integers(min_value=-62_135_596_800_000 + 86_400_000, max_value=253_370_764_800_000)


def test_epoch_is_zero() -> None:
    assert to_ms(EPOCH) == 0
    assert from_ms(0) == datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("when", "ms"),
    [
        (datetime(2018, 1, 1, tzinfo=UTC), 1_514_764_800_000),
        # The last second 32-bit seconds hold, and the millisecond after it.
        (datetime(2038, 1, 19, 3, 14, 7, 999_000, tzinfo=UTC), 2_147_483_647_999),
        (datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC), 2_147_483_648_000),
        (datetime(2199, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC), 7_258_118_399_999),
        (datetime(9998, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC), 253_370_764_799_999),
        (datetime(1969, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC), -1),
    ],
)
def test_known_instants(when: datetime, ms: int) -> None:
    assert to_ms(when) == ms
    assert from_ms(ms) == when


def test_float_arithmetic_would_be_a_millisecond_off() -> None:
    # The case the module exists for: timestamp() * 1000 through a float loses it.
    when = datetime(2038, 6, 1, 0, 0, 0, 2_000, tzinfo=UTC)
    assert int(when.timestamp() * 1000) == 2_158_963_200_001
    assert to_ms(when) == 2_158_963_200_002
    assert from_ms(2_158_963_200_002) == when


@given(ANY_MS)
def test_round_trip(ms: int) -> None:
    when = from_ms(ms)
    assert when.tzinfo is UTC
    assert to_ms(when) == ms


def test_offsets_name_the_same_instant() -> None:
    stockholm = datetime(2026, 10, 25, 3, 30, tzinfo=timezone(timedelta(hours=2)))
    west = datetime(2026, 10, 24, 20, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert to_ms(stockholm) == to_ms(west) == to_ms(datetime(2026, 10, 25, 1, 30, tzinfo=UTC))
    assert as_utc(west) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert as_utc(west).utcoffset() == timedelta(0)


def test_sub_millisecond_rounds_down_also_before_the_epoch() -> None:
    assert to_ms(datetime(2026, 1, 1, 0, 0, 0, 999, tzinfo=UTC)) % 1000 == 0
    assert to_ms(EPOCH - timedelta(microseconds=1)) == -1


@pytest.mark.parametrize("convert", [to_ms, as_utc])
def test_naive_datetime_is_refused(convert: object) -> None:
    with pytest.raises(ValueError, match="naive"):
        convert(datetime(2026, 10, 25, 1, 30))  # type: ignore[operator]


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1_792_891_923_004, "2026-10-25T01:32:03.004Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
    ],
)
def test_rfc3339_ms(ms: int, text: str) -> None:
    assert rfc3339_ms(ms) == text


def test_now_ms_is_the_wall_clock() -> None:
    before = to_ms(datetime.now(UTC))
    now = now_ms()
    after = to_ms(datetime.now(UTC))
    assert before <= now <= after
