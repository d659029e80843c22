"""The command line of `fleetbed simulate`: its help and options (kept light to import)."""

import argparse

from demo.city import GEODATA
from demo.keys_file import DEFAULT_KEYS_PATH

SIMULATE_HELP = """\
Acts as the vehicle gateways of the demo operators (keys from `fleetbed demo seed`): it
registers the vehicles it drives if they are not yet, then posts their telemetry, events
and (pods not dispatched) trips to the MDS Agency endpoints over HTTP. Its gateways take
vehicle commands (lock, unlock, ring, set_max_speed, ...) over the HTTP long poll, or
with --mqtt from the MQTT broker, carry them out (a locked vehicle takes no trips, a
speed cap caps its speed, a ring is logged) and ack them. With the manager and field
agent keys of the keys file, each micromobility operator's manager plans a van shift
from its depot every hour of simulated time (`POST /v1/rebalancing/plans`) and
dispatches it; its agent works the tasks as the simulated clock reaches them, and the
vehicles picked up ride in the van to their drop-off. With the pod operators' manager
keys, riders and shops at the hotspots book rides and deliveries (`POST
/v1/dispatch/requests`) at --trips-per-day for each pod, and the pods stop riding on
their own: each drives the stops of the newest `set_route` command its gateway took,
with the MDS events that move each request to delivered.

Time: fleetbed refuses timestamps in the future, so with --speed S > 1 the simulated
clock starts in the past and runs S times faster than real time until it reaches the
real time, then keeps pace with it. With --duration D (simulated seconds) it starts
D*(S-1)/S seconds ago and ends "now" after D/S real seconds; without, it starts two hours
ago and runs until interrupted. It never starts before the newest data the server holds
of its vehicles (a restarted simulator resumes the city's timeline, so it may run at
real time at once). When the server cannot keep up, the simulation slows
down rather than run ahead. --speed 0 runs as fast as possible over the D simulated
seconds before now (what tests and load runs use).

On exit (the duration is over, Ctrl-C or SIGTERM) it prints what it sent and what the
server answered. Exit status 1 if the server refused data the simulator holds valid (or
could not be reached), else 0.
"""


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `fleetbed simulate`."""
    parser.add_argument(
        "--base-url",
        default="http://127.0.0.1:8000",
        help="the fleetbed API (default: %(default)s)",
    )
    parser.add_argument(
        "--keys",
        default=str(DEFAULT_KEYS_PATH),
        help="the keys file of `fleetbed demo seed` (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="same seed, same run (default: %(default)s)"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=10.0,
        help="times real time; 0: as fast as possible (default: %(default)s)",
    )
    parser.add_argument(
        "--vehicles", type=int, default=300, help="vehicles driven (default: %(default)s)"
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="simulated seconds to run (default: until interrupted; needed with --speed 0)",
    )
    parser.add_argument(
        "--rate", type=float, default=None, metavar="POINTS_PER_S", help="cap on telemetry points/s"
    )
    parser.add_argument(
        "--misbehaviour",
        default=None,
        metavar="RATES",
        help="RATE for every kind, or KIND=RATE,... of parking, speeding, no_ride, leave_area "
        "(per trip), comms_loss (per trip), late_batch, duplicate_batch (per batch)",
    )
    parser.add_argument(
        "--trips-per-day",
        type=float,
        default=8.0,
        help="trips per vehicle and day, on average (default: %(default)s)",
    )
    parser.add_argument(
        "--steady",
        action="store_true",
        help="the same demand at every hour, not the city's daily rhythm (load runs)",
    )
    parser.add_argument(
        "--geodata",
        default=str(GEODATA),
        help="municipality outlines; Helsingborg's is used (default: %(default)s)",
    )
    parser.add_argument(
        "--status-file", default=None, help="rewritten every second with the live counters"
    )
    parser.add_argument(
        "--rebalance-every-min",
        type=float,
        default=60.0,
        metavar="MINUTES",
        help="simulated minutes between each operator's rebalancing plans; 0: no vans "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--mqtt",
        nargs="?",
        const="mqtt://127.0.0.1:1883",
        default=None,
        metavar="URL",
        help="take vehicle commands from the MQTT broker (default URL: %(const)s) instead of "
        "the HTTP long poll",
    )
