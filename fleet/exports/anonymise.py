"""The open-data rules (pure): grid cells, time bins, rounding, pseudonyms, k-anonymity.

Every rule is written twice, side by side: as a Python function over plain values, and as
the SQL expression that applies it inside PostgreSQL (so an export of a million rows is
anonymised where it is read and streamed without Python touching each row). Both use
only operations that IEEE-754 and integer arithmetic define exactly (floor, not round:
Python's `round` is banker's rounding, PostgreSQL's `round(numeric)` is half away from
zero), and tests/test_export_privacy.py evaluates the SQL and checks it against the
Python on edge values.

* Positions: floor-based cells of 0.001° latitude (≈ 111 m) by 0.002° longitude
  (≈ 124 m at 56°N, where a degree of longitude is ≈ 62 km), reported by the cell's centre.
  The coarse grid is exactly 10 by 10 fine cells (≈ 1.1 km by 1.2 km), so cells nest.
* Times: binned down to 15 minutes (UTC, from the Unix epoch).
* Durations rounded to the minute, distances to 100 m (half up).
* Identifiers: HMAC-SHA256 with the configured salt over "<domain>:<value>", truncated to
  96 bits (24 hex digits). The domain names the export and field, so pseudonyms cannot
  be joined across exports. A vehicle must not link its trips (the chain of a vehicle's
  trips would give away the ends of the trips generalised or left out): in the trips
  export its pseudonym is the second part of the trip's HMAC, one per trip; in the events
  and vehicle-status exports it is renewed at every event that belongs to a trip.
* Positions of vehicles engaged in a trip (`on_trip`, `stopped`) are withheld.
* Trips: the origin/destination pair of fine cells must be shared by at least k trips of
  the export; otherwise the trip is reported on the coarse grid, if at least k of the
  trips so generalised share its coarse pair, and else left out.
"""

import hashlib
import hmac
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from app.core.mstime import EPOCH

TIME_BIN = timedelta(minutes=15)
DURATION_STEP_S = 60
DISTANCE_STEP_M = 100
PSEUDONYM_BYTES = 12
# Where a vehicle is engaged in a trip; its position is never published openly then.
TRIP_STATES = ("on_trip", "stopped")
_HMAC_BLOCK = 64  # SHA-256 block size in bytes


@dataclass(frozen=True)
class Grid:
    """A floor-based lat/lng grid: `lat_steps` cells per degree of latitude, `lng_steps`
    per degree of longitude."""

    lat_steps: int
    lng_steps: int

    def cell(self, lat: float, lng: float) -> tuple[int, int]:
        """The (row, column) of the cell holding a position."""
        return math.floor(lat * self.lat_steps), math.floor(lng * self.lng_steps)

    def centre(self, cell: tuple[int, int]) -> tuple[float, float]:
        """The (lat, lng) of a cell's centre."""
        row, col = cell
        return (2 * row + 1) / (2 * self.lat_steps), (2 * col + 1) / (2 * self.lng_steps)

    def coarsen(self, cell: tuple[int, int], coarse: "Grid") -> tuple[int, int]:
        """The cell of the coarser grid `coarse` holding this grid's `cell`."""
        row_factor, col_factor = self._factors(coarse)
        return cell[0] // row_factor, cell[1] // col_factor

    def _factors(self, coarse: "Grid") -> tuple[int, int]:
        if self.lat_steps % coarse.lat_steps or self.lng_steps % coarse.lng_steps:
            raise ValueError("the coarse grid must nest in the fine one")
        return self.lat_steps // coarse.lat_steps, self.lng_steps // coarse.lng_steps

    def sql_cell(self, lat: str, lng: str) -> tuple[str, str]:
        """SQL of `cell` over double precision expressions."""
        return f"floor(({lat}) * {self.lat_steps})", f"floor(({lng}) * {self.lng_steps})"

    def sql_centre(self, row: str, col: str) -> tuple[str, str]:
        """SQL of `centre` over (double precision) cell expressions."""
        return (
            f"((2 * ({row}) + 1) / {2 * self.lat_steps})",
            f"((2 * ({col}) + 1) / {2 * self.lng_steps})",
        )

    def sql_coarsen(self, row: str, col: str, coarse: "Grid") -> tuple[str, str]:
        """SQL of `coarsen`; dividing an integral double by a small integer and flooring
        is exact, as Python's `//` is."""
        row_factor, col_factor = self._factors(coarse)
        return f"floor(({row}) / {row_factor})", f"floor(({col}) / {col_factor})"


FINE = Grid(lat_steps=1000, lng_steps=500)
COARSE = Grid(lat_steps=100, lng_steps=50)


def bin_time(when: datetime) -> datetime:
    """`when` (aware) binned down to the start of its 15-minute UTC bin."""
    return (when - (when - EPOCH) % TIME_BIN).astimezone(UTC)


def sql_bin_time(expr: str) -> str:
    """SQL of `bin_time` over a timestamptz expression."""
    seconds = int(TIME_BIN.total_seconds())
    return f"date_bin('{seconds} seconds', {expr}, TIMESTAMPTZ '1970-01-01 00:00:00+00')"


def round_half_up(value: int, step: int) -> int:
    """`value` rounded to a multiple of `step`, halves up."""
    return (value + step // 2) // step * step


def sql_round_half_up(expr: str, step: int) -> str:
    """SQL of `round_half_up` over an integer expression. The quotient of two integers
    is never within a rounding error of the next integer, so floor is exact, as `//`."""
    return f"(floor((({expr}) + {step // 2})::float8 / {step}) * {step})::integer"


def pseudonym(salt: bytes, domain: str, value: str, part: int = 0) -> str:
    """The `part`-th 96 bits (0 or 1) of HMAC-SHA256 of "<domain>:<value>" under
    `salt`, as hex; two parts give two unlinkable pseudonyms from one HMAC."""
    if part not in (0, 1):
        raise ValueError("a SHA-256 digest holds two 96-bit parts")
    mac = hmac.new(salt, f"{domain}:{value}".encode(), hashlib.sha256).digest()
    return mac[part * PSEUDONYM_BYTES : (part + 1) * PSEUDONYM_BYTES].hex()


def hmac_pads(salt: bytes) -> tuple[bytes, bytes]:
    """The inner and outer HMAC-SHA256 keys of `salt` (RFC 2104), for `sql_hmac`."""
    key = hashlib.sha256(salt).digest() if len(salt) > _HMAC_BLOCK else salt
    key = key.ljust(_HMAC_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def sql_hmac(domain: str, value: str, inner: str, outer: str) -> str:
    """SQL of the HMAC of `pseudonym` (bytea) over a text expression, given the pads of
    `hmac_pads` as bytea parameters `inner` and `outer` (PostgreSQL has sha256() but no
    HMAC)."""
    if "'" in domain:
        raise ValueError("a pseudonym domain is a plain name")
    message = f"convert_to('{domain}:' || ({value}), 'UTF8')"
    return f"sha256({outer} || sha256({inner} || {message}))"


def sql_part(mac: str, part: int = 0) -> str:
    """SQL of `pseudonym`'s part `part` of an HMAC expression."""
    start = part * PSEUDONYM_BYTES + 1
    return f"encode(substring({mac} FROM {start} FOR {PSEUDONYM_BYTES}), 'hex')"


def trip_segments(has_trip_ids: Sequence[bool]) -> list[int]:
    """Per event of one vehicle (in time order), how many of its events up to and
    including this one belong to a trip: the open exports rotate the vehicle's pseudonym
    with this count, so parked positions before and after a trip cannot be chained."""
    counts, seen = [], 0
    for flag in has_trip_ids:
        seen += flag
        counts.append(seen)
    return counts


def sql_trip_segments(trip_ids: str, *, vehicle: str, order: str) -> str:
    """SQL of `trip_segments`: a window over a vehicle's events (`order` their time order)
    counting those whose `trip_ids` (uuid[]) are not empty."""
    return (
        f"count(*) FILTER (WHERE cardinality({trip_ids}) > 0)"
        f" OVER (PARTITION BY {vehicle} ORDER BY {order})"
    )


def position_hidden(vehicle_state: str) -> bool:
    """Whether an open export withholds a position reported in this state."""
    return vehicle_state in TRIP_STATES


def sql_position_hidden(state: str) -> str:
    """SQL of `position_hidden` over a text expression."""
    return f"({state}) IN ({', '.join(repr(s) for s in TRIP_STATES)})"


class Release(StrEnum):
    """How an open export reports a trip's origin and destination."""

    FINE = "fine"
    COARSE = "coarse"
    SUPPRESSED = "suppressed"


OdPair = tuple[tuple[int, int], tuple[int, int]]


def od_releases(pairs: Sequence[OdPair], k: int) -> list[Release]:
    """The release of each trip, given every trip's fine (origin, destination) cells.

    A fine pair shared by at least `k` trips is released as is; the others are counted
    again by their coarse pair, among themselves only (the trips released fine are not
    hidden in the coarse groups), and released coarse when at least `k` share it.
    """
    fine = Counter(pairs)

    def coarse_of(pair: OdPair) -> OdPair:
        return FINE.coarsen(pair[0], COARSE), FINE.coarsen(pair[1], COARSE)

    coarse = Counter(coarse_of(p) for p in pairs if fine[p] < k)
    releases = []
    for pair in pairs:
        if fine[pair] >= k:
            releases.append(Release.FINE)
        elif coarse[coarse_of(pair)] >= k:
            releases.append(Release.COARSE)
        else:
            releases.append(Release.SUPPRESSED)
    return releases
