"""Driving times between places, behind one small interface a road-network matrix can fill.

Implementations are plain picklable values: the planner runs in a worker process.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from fleet.rebalancing.model import Place, PlanningError

EARTH_RADIUS_KM = 6371.0088

Seconds = npt.NDArray[np.int64]


class TravelTimes(Protocol):
    """Whole driving seconds from each origin (rows) to each destination (columns)."""

    def seconds(self, origins: Sequence[Place], destinations: Sequence[Place]) -> Seconds:
        """An `len(origins) x len(destinations)` array of non-negative seconds."""
        ...


@dataclass(frozen=True, slots=True)
class GreatCircle:
    """Haversine distance stretched by a detour factor, driven at a constant speed."""

    detour: float = 1.3  # road distance over straight-line distance
    speed_kmh: float = 25.0  # average driving speed in town

    def seconds(self, origins: Sequence[Place], destinations: Sequence[Place]) -> Seconds:
        """Great-circle seconds, vectorised."""
        lat1, lng1 = _radians(origins)
        lat2, lng2 = _radians(destinations)
        half_dlat = (lat2[None, :] - lat1[:, None]) / 2
        half_dlng = (lng2[None, :] - lng1[:, None]) / 2
        h = np.sin(half_dlat) ** 2 + np.cos(lat1)[:, None] * np.cos(lat2)[None, :] * (
            np.sin(half_dlng) ** 2
        )
        km = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
        seconds: Seconds = np.rint(km * self.detour / self.speed_kmh * 3600).astype(np.int64)
        return seconds


@dataclass(frozen=True, slots=True, eq=False)
class Matrix:
    """An explicit matrix between known places (a benchmark's, or a road network's)."""

    places: tuple[Place, ...]  # the places, in the matrix's row and column order
    values: Seconds  # square, non-negative whole seconds
    _index: dict[Place, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", np.asarray(self.values, dtype=np.int64))
        n = len(self.places)
        if self.values.shape != (n, n):
            raise PlanningError("travel", f"matrix is {self.values.shape}, places {n}")
        if (self.values < 0).any():
            raise PlanningError("travel", "matrix holds negative seconds")
        object.__setattr__(self, "_index", {p: i for i, p in enumerate(self.places)})

    def seconds(self, origins: Sequence[Place], destinations: Sequence[Place]) -> Seconds:
        """The matrix's rows and columns of these places."""
        rows = self._indices(origins)
        columns = self._indices(destinations)
        return self.values[np.ix_(rows, columns)]

    def _indices(self, places: Sequence[Place]) -> list[int]:
        try:
            return [self._index[p] for p in places]
        except KeyError as exc:
            raise PlanningError("travel", f"{exc.args[0]} is not in the matrix") from None


def _radians(places: Sequence[Place]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    coordinates = np.radians(np.array([(p.lat, p.lng) for p in places], dtype=float).reshape(-1, 2))
    return coordinates[:, 0], coordinates[:, 1]
