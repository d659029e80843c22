"""The simulator's city map on a synthetic service area, for the pure simulator tests."""

from demo import city
from demo.simulator.citymap import CityMap

# A service area shaped like Helsingborg's coarse outline near the centre: the coast runs
# close past Oceanhamnen, as in the shared geodata, without depending on that file.
SERVICE_AREA: city.Ring = [
    (12.6553, 56.0791),
    (12.6753, 56.0602),
    (12.7004, 56.0059),
    (12.7350, 55.9947),
    (12.8600, 55.9800),
    (12.8600, 56.1000),
    (12.6600, 56.1000),
    (12.6553, 56.0791),
]


def city_map() -> CityMap:
    """The demo zones and hotspots in the synthetic service area."""
    return CityMap.build(SERVICE_AREA, city.ZONES, city.HOTSPOTS)


CMAP = city_map()
