"""GPS values that MDS allows but that carry no meaning (pure).

MDS defines `speed`, `horizontal_accuracy`, `vertical_accuracy` and `heading` without a
minimum, and GPS chipsets use that: `speed: -1.0` is a common "not known". fleetbed stores
such values as given and treats them as unknown in its own computations (rules, route
filtering, live state).
"""

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

# Fields whose negative values mean "not known". A heading is an angle in [0, 360].
SENTINEL_FIELDS = ("speed", "horizontal_accuracy", "vertical_accuracy", "heading")
_MAX_HEADING = 360.0


def known(value: float | None) -> float | None:
    """A speed or accuracy as fleetbed uses it: None when absent or negative."""
    if value is None or value < 0:
        return None
    return value


def is_sentinel(field: str, value: float) -> bool:
    """Whether a value of a GPS field is legal in MDS but meaningless."""
    if field == "heading":
        return not 0 <= value <= _MAX_HEADING
    return value < 0


def sentinel_counts(locations: Iterable[Mapping[str, Any]]) -> Counter[str]:
    """How many locations carry a meaningless value, per field."""
    counts: Counter[str] = Counter()
    for location in locations:
        for field in SENTINEL_FIELDS:
            value = location.get(field)
            if value is not None and is_sentinel(field, value):
                counts[field] += 1
    return counts
