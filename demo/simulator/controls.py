"""What commands do to a simulated vehicle (pure): locks, speed caps, rings, routes."""

from dataclasses import dataclass
from typing import Any

from demo.simulator.pods import Route, parse_route

KPH = 1 / 3.6


@dataclass
class Controls:
    """A vehicle's state as commands left it."""

    locked: bool = False
    max_speed_kph: float | None = None
    rings: int = 0
    # A pod's newest route (times on the server's clock), for the pod to take.
    route: Route | None = None

    def cap_ms(self) -> float | None:
        """The speed cap in m/s, if any."""
        return None if self.max_speed_kph is None else self.max_speed_kph * KPH


def execute(controls: Controls | None, kind: str, params: dict[str, Any]) -> tuple[str, str]:
    """Carry out a command on a vehicle (None: not one this gateway drives); the ack
    status and message to send."""
    if controls is None:
        return "rejected", "not a vehicle of this gateway"
    if kind == "lock":
        controls.locked = True
        return "done", "locked"
    if kind == "unlock":
        controls.locked = False
        return "done", "unlocked"
    if kind == "ring":
        controls.rings += 1
        return "done", f"rang (ring {controls.rings})"
    if kind == "set_max_speed":
        cap = params.get("max_speed_kph")
        if not isinstance(cap, int | float) or isinstance(cap, bool) or cap <= 0:
            return "rejected", "set_max_speed needs a positive max_speed_kph"
        controls.max_speed_kph = float(cap)
        return "done", f"top speed {cap:g} km/h"
    if kind == "set_route":
        route = parse_route(params)
        if route is None:
            return "rejected", "set_route needs a version and stops"
        # Delivery is at least once and in no set order: an older route never wins.
        if controls.route is None or route.version > controls.route.version:
            controls.route = route
        return "done", f"route v{route.version}: {len(route.stops)} stops"
    if kind in {"open_battery", "reboot"}:
        return "done", f"{kind.replace('_', ' ')} simulated"
    return "rejected", f"unknown command {kind}"
