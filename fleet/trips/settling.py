"""Whether a trip's figures are still open to change (pure).

A trip is served under the hour its end lies in. Once MDS Provider serves that hour as
settled, the city holds its figures: later measurements are recorded beside them.
"""

from datetime import datetime, timedelta

from fleet.reporting.hours import HOUR, hour_containing, served_as_settled


def end_hour_settled(end_at: datetime, now: datetime, lateness: timedelta) -> bool:
    """Whether the hour of `end_at` is already served as settled at `now`."""
    return served_as_settled(hour_containing(end_at) + HOUR, now, lateness)
