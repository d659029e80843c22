"""Which events show a vehicle in a rental: public GBFS ids rotate after each one."""

from collections.abc import Iterable

from fleet.events.schema import Event

# States in which a rider or customer has the vehicle (`stopped`: paused within a trip).
RENTED_STATES = ("on_trip", "stopped")
# The same test over the `events` table aliased `ev`, for lateral lookups.
PERTAINS_TO_TRIP_SQL = (
    "(ev.vehicle_state IN ('on_trip', 'stopped') OR cardinality(ev.trip_ids) > 0)"
)


def pertains_to_trip(event: Event) -> bool:
    """Whether the event shows the vehicle rented: a rented state, or trip ids."""
    return event["vehicle_state"] in RENTED_STATES or bool(event.get("trip_ids"))


def newest_trip_ms(events: Iterable[Event]) -> dict[str, int]:
    """Per device, the newest timestamp among its events that pertain to a trip."""
    newest: dict[str, int] = {}
    for event in events:
        if pertains_to_trip(event):
            device, ts = event["device_id"], event["timestamp"]
            newest[device] = max(ts, newest.get(device, ts))
    return newest
