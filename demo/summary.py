"""The live summary of `fleetbed demo run`: plain data in, lines of text out.

Nothing here touches a process, a socket or the clock: the caller gathers the counts
(database, `/readyz`, `/metrics`, the simulator's status file) and the time.
"""

import math
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families

from app.core.mds import MDS_MEDIA_TYPE, MDS_MEDIA_VERSION
from demo.city import HOTSPOTS
from geofencing.violations import (
    ENTER,
    EXIT,
    LEFT_SERVICE_AREA,
    PARKED_IN_NO_PARKING_ZONE,
    PARKED_OUTSIDE_MANDATORY_HUB,
    RESTRICTED_VEHICLE,
    RIDING_IN_NO_RIDE_ZONE,
    SPEEDING,
)

# MDS vehicle states in the order a reader scans them; NO_EVENT: registered, silent so far.
STATES = (
    "available",
    "reserved",
    "on_trip",
    "stopped",
    "non_operational",
    "non_contactable",
    "missing",
    "elsewhere",
    "removed",
)
NO_EVENT = "no_event"
VIOLATIONS = (
    SPEEDING,
    RIDING_IN_NO_RIDE_ZONE,
    LEFT_SERVICE_AREA,
    PARKED_IN_NO_PARKING_ZONE,
    PARKED_OUTSIDE_MANDATORY_HUB,
    RESTRICTED_VEHICLE,
)
RECENT = timedelta(minutes=10)
# A simulator running faster than real time starts its clock in the past; show it until
# it has caught up to within this.
CATCHING_UP = timedelta(minutes=1)
# A status file older than this means the simulator stopped writing it.
STALE_AFTER_S = 10.0
MDS_ACCEPT = f"{MDS_MEDIA_TYPE};version={MDS_MEDIA_VERSION}"
BAR_WIDTH = 30
# The examples search around the busiest hotspot, Helsingborg C / Knutpunkten.
DEMO_LOCATION = (HOTSPOTS[0].lat, HOTSPOTS[0].lng)


@dataclass(frozen=True)
class OperatorRebalancing:
    """An operator's last rebalancing plan: the cells in deficit before and after it (as
    planned), and the vehicles its van picked up, by it and since the demo started."""

    operator: str
    planned_at: datetime
    deficit_before: int
    deficit_after: int
    moved: int
    moved_since_start: int


@dataclass(frozen=True)
class FleetSummary:
    """What the database says: vehicles by state, trips, alerts by kind, rebalancing."""

    by_state: Mapping[str, int]
    trips_in_progress: int
    trips_ended: int  # since the demo started
    alerts_recent: Mapping[str, int]  # raised within RECENT
    alerts_total: Mapping[str, int]  # since the demo started
    rebalancing: tuple[OperatorRebalancing, ...] = ()  # operators with a plan, by name


@dataclass(frozen=True)
class PodService:
    """A pod operator's bookings and how its pods served them, as the simulator counts
    them; waits are pickup start less the time wanted (now, or the wished time)."""

    operator: str
    booked: int
    refused: int
    delivered: int
    wait_median_s: float | None
    wait_p90_s: float | None
    pods: int
    carrying: int  # pods with someone or something aboard
    aboard: int  # requests aboard


@dataclass(frozen=True)
class SimulatorStatus:
    """The counters the simulator writes to its status file."""

    points_sent: int
    points_per_s: float
    events_sent: int
    trips_started: int
    trips_ended: int
    rejected_batches: int
    updated_at: datetime | None
    sim_time: datetime | None  # its simulated clock: behind real time while catching up
    misbehaviour: Mapping[str, int]  # misbehaviour acted out, by kind
    dispatch: tuple[PodService, ...] = ()  # by operator key


@dataclass(frozen=True)
class ServerHealth:
    """The server's `/readyz` verdict and its Agency request counts by status code."""

    ready: bool | None  # None: no answer
    failing: tuple[str, ...]
    agency_requests: Mapping[str, int]


@dataclass(frozen=True)
class Snapshot:
    """Everything one frame shows, taken at `taken_at`."""

    taken_at: datetime
    fleet: FleetSummary | None
    fleet_error: str | None
    server: ServerHealth
    simulator: SimulatorStatus | None


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and math.isfinite(value) else 0


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _pod_services(data: Any) -> tuple[PodService, ...]:
    if not isinstance(data, dict):
        return ()
    found = []
    for operator, counts in sorted(data.items()):
        if not isinstance(counts, dict):
            continue
        refused = counts.get("refused")
        found.append(
            PodService(
                operator=str(operator),
                booked=_int(counts.get("booked")),
                refused=sum(_int(n) for n in refused.values()) if isinstance(refused, dict) else 0,
                delivered=_int(counts.get("delivered")),
                wait_median_s=_seconds(counts.get("wait_median_s")),
                wait_p90_s=_seconds(counts.get("wait_p90_s")),
                pods=_int(counts.get("pods")),
                carrying=_int(counts.get("carrying")),
                aboard=_int(counts.get("aboard")),
            )
        )
    return tuple(found)


def parse_simulator_status(raw: bytes) -> SimulatorStatus | None:
    """The simulator's status file (`fleetbed simulate --status-file`), or None when unreadable."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    rate = data.get("points_per_s")
    acted = data.get("misbehaviour")
    return SimulatorStatus(
        points_sent=_int(data.get("points_sent")),
        points_per_s=float(rate) if isinstance(rate, int | float) and math.isfinite(rate) else 0.0,
        events_sent=_int(data.get("events_sent")),
        trips_started=_int(data.get("trips_started")),
        trips_ended=_int(data.get("trips_ended")),
        rejected_batches=_int(data.get("rejected")),
        updated_at=_time(data.get("updated_at")),
        sim_time=_time(data.get("sim_time")),
        misbehaviour=(
            {str(k): _int(n) for k, n in acted.items()} if isinstance(acted, dict) else {}
        ),
        dispatch=_pod_services(data.get("dispatch")),
    )


def parse_readiness(status_code: int | None, body: bytes) -> tuple[bool | None, tuple[str, ...]]:
    """`/readyz`'s answer as (ready, failing parts); (None, ()) when the server did not answer."""
    if status_code is None:
        return None, ()
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = {}
    failing = data.get("failing") if isinstance(data, dict) else None
    names = tuple(str(f) for f in failing) if isinstance(failing, list) else ()
    return status_code == 200, names


def agency_requests(metrics_text: str) -> dict[str, int]:
    """Requests to the MDS Agency routes by status code, from the server's `/metrics`."""
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "fleetbed_http_requests":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels.get("route", "").startswith(
                "/mds/agency/"
            ):
                status = sample.labels.get("status", "?")
                counts[status] = counts.get(status, 0) + int(sample.value)
    return counts


def request_rate(previous: Snapshot | None, current: Snapshot) -> float | None:
    """Agency requests per second between two snapshots; None without a usable previous one."""
    if previous is None:
        return None
    seconds = (current.taken_at - previous.taken_at).total_seconds()
    before = sum(previous.server.agency_requests.values())
    after = sum(current.server.agency_requests.values())
    # A restarted server starts its counters afresh: no rate across that.
    if seconds <= 0 or after < before:
        return None
    return (after - before) / seconds


def _clock(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _server_line(server: ServerHealth, rate: float | None) -> str:
    if server.ready is None:
        verdict = "not answering"
    elif server.ready:
        verdict = "ready"
    else:
        verdict = "degraded: " + (", ".join(server.failing) or "see the log")
    by_class = {"2xx": 0, "4xx": 0, "5xx": 0}
    for status, count in server.agency_requests.items():
        cls = f"{status[:1]}xx"
        if cls in by_class:
            by_class[cls] += count
    shown_rate = f"{rate:,.1f}/s" if rate is not None else "…/s"
    return (
        f"server     {verdict:<14} {shown_rate} MDS Agency requests, "
        f"2xx {by_class['2xx']:,}  4xx {by_class['4xx']:,}  5xx {by_class['5xx']:,}"
    )


def _simulator_line(simulator: SimulatorStatus | None, now: datetime) -> list[str]:
    if simulator is None:
        return ["simulator  starting (no status yet)"]
    age = (now - simulator.updated_at).total_seconds() if simulator.updated_at else None
    if age is not None and age > STALE_AFTER_S:
        verdict = f"silent for {age:.0f} s"
    elif simulator.rejected_batches:
        # Batches it considers valid came back 4xx: a server (or simulator) bug to look at.
        verdict = f"{simulator.rejected_batches:,} REJECTED"
    else:
        verdict = "running"
    behind = simulator.sim_time is not None and simulator.sim_time < now - CATCHING_UP
    clock = f", its clock at {simulator.sim_time:%H:%M} UTC" if behind else ""
    # The most frequent first: on a narrow screen the line is cut at its end.
    acted = sorted(((n, k) for k, n in simulator.misbehaviour.items() if n), reverse=True)
    return [
        f"simulator  {verdict:<14} {simulator.points_per_s:,.0f} points/s, "
        f"{simulator.points_sent:,} points and {simulator.events_sent:,} events sent",
        f"           {simulator.trips_started:,} trips started, "
        f"{simulator.trips_ended:,} ended{clock}",
        "           misbehaving: " + (", ".join(f"{k} {n:,}" for n, k in acted) or "not yet"),
    ]


def _bar(count: int, most: int) -> str:
    return "█" * (round(BAR_WIDTH * count / most) if most else 0)


def _fleet_lines(fleet: FleetSummary) -> list[str]:
    registered = sum(fleet.by_state.values())
    lines = [f"vehicles   {registered:,} registered"]
    shown = [s for s in STATES if fleet.by_state.get(s)]
    # States outside MDS 2.0's list would still be counted, so show them rather than lose them.
    shown += sorted(s for s in fleet.by_state if s not in STATES and s != NO_EVENT)
    if fleet.by_state.get(NO_EVENT):
        shown.append(NO_EVENT)
    most = max((fleet.by_state[s] for s in shown), default=0)
    for state in shown:
        label = "no event yet" if state == NO_EVENT else state
        count = fleet.by_state[state]
        lines.append(f"  {label:<17}{count:>7,}  {_bar(count, most)}")
    lines.append(
        f"trips      {fleet.trips_in_progress:,} in progress, "
        f"{fleet.trips_ended:,} ended since the demo started"
    )
    lines.append("")
    lines.append(f"alerts     {'last 10 min':>29}{'since start':>13}")
    others = sorted(
        k
        for k in {*fleet.alerts_total, *fleet.alerts_recent}
        if k not in (*VIOLATIONS, ENTER, EXIT)
    )
    for kind in (*VIOLATIONS, *others):
        recent, total = fleet.alerts_recent.get(kind, 0), fleet.alerts_total.get(kind, 0)
        lines.append(f"  {kind:<30}{recent:>8,}{total:>13,}")
    recent = sum(fleet.alerts_recent.get(k, 0) for k in (ENTER, EXIT))
    total = sum(fleet.alerts_total.get(k, 0) for k in (ENTER, EXIT))
    lines.append(f"  {'zone enter / exit':<30}{recent:>8,}{total:>13,}")
    lines.append("")
    lines += _rebalancing_lines(fleet.rebalancing)
    return lines


def _rebalancing_lines(operators: tuple[OperatorRebalancing, ...]) -> list[str]:
    if not operators:
        return ["rebalancing  no plan yet (each operator plans every hour of simulated time)"]
    lines = [f"rebalancing{'cells in deficit':>32}{'vehicles moved':>26}"]
    for r in operators:
        deficit = f"{r.deficit_before:,} → {r.deficit_after:,} at {r.planned_at:%H:%M}"
        moved = f"{r.moved:,} ({r.moved_since_start:,} since start)"
        lines.append(f"  {r.operator:<26}{deficit:>15}{moved:>26}")
    return lines


def _dispatch_lines(services: tuple[PodService, ...]) -> list[str]:
    lines = [
        f"dispatch{'booked':>21}{'refused':>9}{'served':>8}{'wait median / p90':>20}"
        f"{'pods carrying':>18}"
    ]
    for p in services:
        wait = (
            "-"
            if p.wait_median_s is None or p.wait_p90_s is None
            else f"{p.wait_median_s / 60:.1f} / {p.wait_p90_s / 60:.1f} min"
        )
        carrying = f"{p.carrying}/{p.pods} ({p.aboard} aboard)"
        lines.append(
            f"  {p.operator:<20}{p.booked:>7,}{p.refused:>9,}{p.delivered:>8,}{wait:>20}"
            f"{carrying:>18}"
        )
    return lines


def render_screen(
    snapshot: Snapshot,
    previous: Snapshot | None,
    *,
    started: datetime,
    base_url: str,
    logs: tuple[str, str],
) -> list[str]:
    """The one-screen summary, one string per line (no ANSI codes)."""
    now = snapshot.taken_at
    lines = [
        f"fleetbed demo · {base_url}/docs · {now:%H:%M:%S} UTC · up {_clock(now - started)}",
        _server_line(snapshot.server, request_rate(previous, snapshot)),
        *_simulator_line(snapshot.simulator, now),
        "",
    ]
    if snapshot.fleet is not None:
        lines += _fleet_lines(snapshot.fleet)
    else:
        lines.append(f"vehicles   (the database did not answer: {snapshot.fleet_error})")
    if snapshot.simulator is not None and snapshot.simulator.dispatch:
        lines += ["", *_dispatch_lines(snapshot.simulator.dispatch)]
    lines.append(f"Ctrl-C stops everything. Logs: {logs[0]}, {logs[1]}")
    return lines


def render_line(snapshot: Snapshot, *, started: datetime) -> str:
    """The summary as one plain line, for output that is not a terminal."""
    now = snapshot.taken_at
    parts = [f"{now:%H:%M:%S} up {_clock(now - started)}"]
    server = snapshot.server
    parts.append(
        "server "
        + ("ready" if server.ready else "not answering" if server.ready is None else "degraded")
    )
    if snapshot.simulator is not None:
        parts.append(f"{snapshot.simulator.points_per_s:,.0f} points/s")
    fleet = snapshot.fleet
    if fleet is None:
        parts.append(f"database: {snapshot.fleet_error}")
    else:
        states = ", ".join(
            f"{s} {fleet.by_state[s]}" for s in (*STATES, NO_EVENT) if fleet.by_state.get(s)
        )
        parts.append(f"vehicles: {states or 'none'}")
        parts.append(f"trips in progress {fleet.trips_in_progress}")
        alerts = ", ".join(f"{k} {n}" for k, n in sorted(fleet.alerts_total.items()) if n)
        parts.append(f"alerts since start: {alerts or 'none'}")
    if snapshot.simulator is not None and snapshot.simulator.dispatch:
        served = ", ".join(f"{p.operator} {p.delivered}" for p in snapshot.simulator.dispatch)
        parts.append(f"bookings served: {served}")
    return " | ".join(parts)


def _key_from_file(variable: str, keys_path: str, *path: str) -> str:
    lookup = "".join(f'["{p}"]' for p in path)
    script = f"import json,sys; print(json.load(open(sys.argv[1])){lookup})"
    return f"{variable}=$(python3 -c '{script}' {shlex.quote(keys_path)})"


def example_requests(base_url: str, keys_path: str, operator: str, today: date) -> list[str]:
    """Shell lines that read keys from the keys file (never showing one) and call the API."""
    lat, lng = DEMO_LOCATION
    start, end = today - timedelta(days=1), today + timedelta(days=1)

    def curl(path: str, key: str, *headers: str) -> str:
        extra = "".join(f" -H '{h}'" for h in headers)
        return f'curl -s "{base_url}{path}" -H "Authorization: Bearer ${key}"{extra}'

    return [
        _key_from_file("AUDITOR", keys_path, "city", "city_auditor"),
        _key_from_file("MANAGER", keys_path, "providers", operator, "manager_key"),
        _key_from_file("AGENT", keys_path, "providers", operator, "agent_key"),
        curl(f"/v1/vehicles?near={lat:.4f},{lng:.4f}&radius_m=1500&limit=5", "AUDITOR"),
        curl("/v1/supply?resolution=8", "AUDITOR"),
        curl("/mds/provider/vehicles/status?limit=5", "AUDITOR", f"Accept: {MDS_ACCEPT}"),
        curl("/v1/alerts?limit=5", "MANAGER"),
        curl(f"/v1/tasks?near={lat:.4f},{lng:.4f}&state=open&limit=5", "AGENT"),
        curl(
            f"/v1/exports/trips?from={start.isoformat()}T00:00:00Z"
            f"&to={end.isoformat()}T00:00:00Z&format=csv&privacy=open",
            "AUDITOR",
        ),
    ]
