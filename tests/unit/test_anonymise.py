"""The open-data rules (pure): cells, bins, rounding, pseudonyms, k-anonymity."""

import hashlib
import hmac
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.exports.anonymise import (
    COARSE,
    FINE,
    Grid,
    OdPair,
    Release,
    bin_time,
    hmac_pads,
    od_releases,
    position_hidden,
    pseudonym,
    round_half_up,
    sql_hmac,
    trip_segments,
)

METRES_PER_DEGREE = 111_195  # of latitude, and of longitude at the equator


def test_fine_cells_are_about_a_hundred_metres_at_helsingborg() -> None:
    height = METRES_PER_DEGREE / FINE.lat_steps
    width = METRES_PER_DEGREE * math.cos(math.radians(56.05)) / FINE.lng_steps
    assert 100 < height < 125
    assert 100 < width < 125
    assert COARSE.lat_steps * 10 == FINE.lat_steps
    assert COARSE.lng_steps * 10 == FINE.lng_steps


def test_cells_are_floor_based_also_below_zero() -> None:
    assert FINE.cell(56.0465, 12.6945) == (56046, 6347)
    assert FINE.cell(-0.0001, -0.0001) == (-1, -1)
    assert FINE.cell(0.0, 0.0) == (0, 0)
    assert FINE.centre((56046, 6347)) == (56.0465, 12.695)
    assert FINE.centre((-1, -1)) == (-0.0005, -0.001)
    assert COARSE.centre((5600, 634)) == (56.005, 12.69)


def test_coarse_cells_are_whole_groups_of_fine_ones() -> None:
    assert FINE.coarsen((56046, 6347), COARSE) == (5604, 634)
    assert FINE.coarsen((-1, -10), COARSE) == (-1, -1)
    assert FINE.coarsen((-11, 9), COARSE) == (-2, 0)
    with pytest.raises(ValueError, match="nest"):
        FINE.coarsen((1, 1), Grid(lat_steps=300, lng_steps=50))


@given(
    st.floats(min_value=-89.9, max_value=89.9, allow_nan=False),
    st.floats(min_value=-179.9, max_value=179.9, allow_nan=False),
)
def test_a_position_stays_in_its_cell_and_the_centre_maps_back(lat: float, lng: float) -> None:
    for grid in (FINE, COARSE):
        cell = grid.cell(lat, lng)
        centre = grid.centre(cell)
        assert abs(centre[0] - lat) <= 0.5 / grid.lat_steps + 1e-9
        assert abs(centre[1] - lng) <= 0.5 / grid.lng_steps + 1e-9
        assert grid.cell(*centre) == cell
    assert COARSE.centre(FINE.coarsen(FINE.cell(lat, lng), COARSE)) == COARSE.centre(
        FINE.coarsen(FINE.cell(*FINE.centre(FINE.cell(lat, lng))), COARSE)
    )


@pytest.mark.parametrize(
    ("when", "binned"),
    [
        (datetime(2026, 10, 25, 1, 14, 59, 999999, tzinfo=UTC), datetime(2026, 10, 25, 1, 0)),
        (datetime(2026, 10, 25, 1, 15, tzinfo=UTC), datetime(2026, 10, 25, 1, 15)),
        # 02:44 CEST is 00:44 UTC; bins are UTC whatever the offset given.
        (
            datetime(2026, 10, 25, 2, 44, tzinfo=timezone(timedelta(hours=2))),
            datetime(2026, 10, 25, 0, 30),
        ),
        # India is 5:30 off UTC: its quarter hours are UTC quarter hours too.
        (
            datetime(2026, 1, 1, 5, 59, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            datetime(2026, 1, 1, 0, 15),
        ),
    ],
)
def test_times_are_binned_down_to_utc_quarter_hours(when: datetime, binned: datetime) -> None:
    result = bin_time(when)
    assert result == binned.replace(tzinfo=UTC)
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "step", "rounded"),
    [
        (0, 60, 0),
        (29, 60, 0),
        (30, 60, 60),
        (89, 60, 60),
        (90, 60, 120),
        (149, 100, 100),
        (150, 100, 200),
        (-30, 60, 0),
        (-31, 60, -60),
    ],
)
def test_rounding_is_half_up(value: int, step: int, rounded: int) -> None:
    assert round_half_up(value, step) == rounded


def test_pseudonyms_are_salted_truncated_hmacs() -> None:
    salt = b"city-salt"
    device = "6f1d5b8e-2c1a-4b7e-9a53-0d4c1e2f3a4b"
    first = pseudonym(salt, "trips.device_id", device)
    assert first == pseudonym(salt, "trips.device_id", device)
    assert len(first) == 24
    expected = hmac.new(salt, f"trips.device_id:{device}".encode(), hashlib.sha256).hexdigest()
    assert first == expected[:24]
    assert pseudonym(salt, "trips.device_id", device, part=1) == expected[24:48]
    assert pseudonym(b"another-salt", "trips.device_id", device) != first
    assert pseudonym(salt, "events.device_id", device) != first
    assert device not in first
    with pytest.raises(ValueError, match="two"):
        pseudonym(salt, "trips.trip_id", device, part=2)


@pytest.mark.parametrize("salt", [b"", b"short", b"k" * 64, b"long" * 40])
def test_the_pads_give_the_hmac_the_database_computes(salt: bytes) -> None:
    # What sql_hmac asks PostgreSQL for: sha256(outer || sha256(inner || message)).
    inner, outer = hmac_pads(salt)
    message = b"events.event_id:1234"
    by_pads = hashlib.sha256(outer + hashlib.sha256(inner + message).digest()).digest()
    assert by_pads == hmac.new(salt, message, hashlib.sha256).digest()


def test_sql_domains_are_plain_names() -> None:
    with pytest.raises(ValueError, match="plain"):
        sql_hmac("trips'; DROP TABLE trips; --", "x", "$1", "$2")


def test_vehicle_pseudonyms_rotate_at_every_trip_event() -> None:
    assert trip_segments([]) == []
    assert trip_segments([False, True, True, False, False, True, False]) == [0, 1, 2, 2, 2, 3, 3]


def test_positions_are_withheld_while_a_vehicle_is_engaged_in_a_trip() -> None:
    assert position_hidden("on_trip")
    assert position_hidden("stopped")
    for state in ("available", "reserved", "non_operational", "elsewhere", "removed"):
        assert not position_hidden(state)


A, B = (56046, 6347), (56051, 6350)  # fine cells in the coarse cells (5604, 634), (5605, 635)
A2, B2 = (56041, 6341), (56059, 6359)  # other fine cells of the same coarse cells
FAR = ((55000, 6000), (55010, 6010))


def test_od_pairs_of_k_trips_are_released_fine() -> None:
    assert od_releases([(A, B)] * 5, k=5) == [Release.FINE] * 5
    assert od_releases([(A, B)] * 4, k=5) == [Release.SUPPRESSED] * 4


def test_od_pairs_below_k_are_generalised_together_or_left_out() -> None:
    pairs: list[OdPair] = [(A, B), (A, B), (A2, B2), (A2, B), (A, B2), FAR]
    assert od_releases(pairs, k=5) == [Release.COARSE] * 5 + [Release.SUPPRESSED]


def test_trips_released_fine_do_not_cover_the_generalised_ones() -> None:
    # Four short of k in the coarse pair would be five with the fine ones counted: no.
    pairs: list[OdPair] = [(A, B)] * 5 + [(A2, B2)] * 4
    assert od_releases(pairs, k=5) == [Release.FINE] * 5 + [Release.SUPPRESSED] * 4


def test_k_of_one_releases_everything_fine() -> None:
    pairs: list[OdPair] = [(A, B), FAR]
    assert od_releases(pairs, k=1) == [Release.FINE, Release.FINE]
