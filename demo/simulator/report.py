"""What the simulator sent and what the server answered, and which answers were wrong."""

import os
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from app.core.mstime import from_ms
from demo.simulator.batches import Endpoint
from demo.simulator.bookings import ServiceTally
from demo.simulator.misbehaviour import Misbehaviour

# The answers the simulator expects; anything else means the server refused valid data
# (4xx) or failed (5xx, no answer after retries). `409 already_registered` is expected
# when registering vehicles: they may be there from a seed or an earlier run.
EXPECTED = {endpoint: frozenset({201}) for endpoint in Endpoint}
EXPECTED[Endpoint.VEHICLES] = frozenset({201, 409})
NO_ANSWER = 0  # the status recorded when the server could not be reached
RATE_WINDOW_S = 5.0
KEEP_UNEXPECTED = 20
# Riding misbehaviour is tallied as `misbehaviour:KIND`; these under their own name.
_TALLIED_BARE = (
    Misbehaviour.COMMS_LOSS.value,
    Misbehaviour.LATE_BATCH.value,
    Misbehaviour.DUPLICATE_BATCH.value,
)


def misbehaviour_done(tally: Mapping[str, int]) -> dict[str, int]:
    """The misbehaviour acted out so far, by kind: riding kinds first, then the others."""
    done = {
        k.removeprefix("misbehaviour:"): n
        for k, n in sorted(tally.items())
        if k.startswith("misbehaviour:")
    }
    done |= {kind: tally[kind] for kind in _TALLIED_BARE if tally.get(kind)}
    return done


@dataclass
class Report:
    """Counters of one run."""

    started: float = field(default_factory=time.monotonic)
    requests: Counter[tuple[str, int]] = field(default_factory=Counter)
    items: Counter[tuple[str, int]] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    unexpected: int = 0
    unexpected_samples: list[str] = field(default_factory=list)
    # The vans' plans, shifts and vehicles moved; their failures do not fail the run.
    rebalancing: Counter[str] = field(default_factory=Counter)
    rebalancing_problems: list[str] = field(default_factory=list)
    # Each pod operator's bookings and how they were served, by operator key.
    dispatch: dict[str, ServiceTally] = field(default_factory=dict)
    sim_ms: int = 0
    _recent: deque[tuple[float, int]] = field(default_factory=deque)

    def record(
        self, endpoint: Endpoint, count: int, status: int, note: str = "", detail: str = ""
    ) -> None:
        """Count one request and its answer."""
        self.requests[(endpoint.value, status)] += 1
        self.items[(endpoint.value, status)] += count
        if note:
            self.notes[note] += 1
        if endpoint is Endpoint.TELEMETRY and status == 201:
            self._recent.append((time.monotonic(), count))
        if status not in EXPECTED[endpoint]:
            self.unexpected += 1
            if len(self.unexpected_samples) < KEEP_UNEXPECTED:
                what = "no answer" if status == NO_ANSWER else f"HTTP {status}"
                self.unexpected_samples.append(
                    f"{endpoint.path} ({count} items): {what} {detail[:300]}".rstrip()
                )

    def rebalancing_problem(self, operator: str, what: str) -> None:
        """Count a van's request that failed (its next plan is asked for as usual)."""
        self.rebalancing["problems"] += 1
        if len(self.rebalancing_problems) < KEEP_UNEXPECTED:
            self.rebalancing_problems.append(f"{operator}: {what[:300]}")

    @property
    def ok(self) -> bool:
        """Whether every answer was one the simulator expected."""
        return self.unexpected == 0

    def sent(self, endpoint: Endpoint, status: int = 201) -> int:
        """Items posted to an endpoint and answered with `status`."""
        return self.items[(endpoint.value, status)]

    def points_per_s(self) -> float:
        """Telemetry points acknowledged per second over the last few seconds."""
        now = time.monotonic()
        while self._recent and self._recent[0][0] < now - RATE_WINDOW_S:
            self._recent.popleft()
        window = min(RATE_WINDOW_S, max(now - self.started, 1e-3))
        return sum(n for _, n in self._recent) / window

    def status(self, tally: Mapping[str, int], states: Mapping[str, int]) -> dict[str, Any]:
        """The live counters, as `--status-file` holds them."""
        statuses: Counter[str] = Counter()
        for (_, status), n in self.requests.items():
            statuses[str(status)] += n
        return {
            "updated_at": datetime.now(UTC).isoformat(),
            "sim_time": from_ms(self.sim_ms).isoformat(),
            "elapsed_s": round(time.monotonic() - self.started, 1),
            "points_sent": self.sent(Endpoint.TELEMETRY),
            "points_per_s": round(self.points_per_s(), 1),
            "events_sent": self.sent(Endpoint.EVENTS),
            "trips_sent": self.sent(Endpoint.TRIPS),
            "trips_started": tally.get("trips_started", 0),
            "trips_ended": tally.get("trips_ended", 0),
            "requests": sum(self.requests.values()),
            "statuses": dict(sorted(statuses.items())),
            "rejected": self.unexpected,
            "vehicles_by_state": dict(sorted(states.items())),
            "misbehaviour": misbehaviour_done(tally),
            "rebalancing": dict(sorted(self.rebalancing.items())),
            "dispatch": {k: t.status() for k, t in sorted(self.dispatch.items())},
        }

    def render(self, tally: Mapping[str, int]) -> str:
        """The report printed at the end of a run."""
        elapsed = max(time.monotonic() - self.started, 1e-3)
        lines = [f"fleetbed simulate: {elapsed:.1f} s"]
        lines.append(f"  {'endpoint':<24}{'status':>7}{'requests':>10}{'items':>10}")
        for (endpoint, status), n in sorted(self.requests.items()):
            shown = "-" if status == NO_ANSWER else str(status)
            items = self.items[(endpoint, status)]
            lines.append(f"  {'/mds/agency/' + endpoint:<24}{shown:>7}{n:>10}{items:>10}")
        points = self.sent(Endpoint.TELEMETRY)
        lines.append(
            f"  telemetry points acknowledged: {points} ({points / elapsed:.0f}/s on average)"
        )
        lines.append(
            "  trips: {} started, {} ended, {} cancelled".format(
                tally.get("trips_started", 0),
                tally.get("trips_ended", 0),
                tally.get("trips_cancelled", 0),
            )
        )
        misbehaving = misbehaviour_done(tally)
        if misbehaving:
            lines.append("  misbehaviour: " + ", ".join(f"{k} {n}" for k, n in misbehaving.items()))
        if self.rebalancing:
            r = self.rebalancing
            lines.append(
                f"  rebalancing: {r['plans']} plans, {r['dispatched']} dispatched, "
                f"{r['shifts_done']} shifts driven, {r['vehicles_moved']} vehicles moved, "
                f"{r['vehicles_not_found']} not found where planned, {r['problems']} problems"
            )
            lines += [f"    {sample}" for sample in self.rebalancing_problems]
        for operator, service in sorted(self.dispatch.items()):
            lines.append(f"  dispatch {operator}: {service.describe()}")
            lines += [f"    {sample}" for sample in service.problems]
        if self.ok:
            lines.append("  every answer was as expected")
        else:
            lines.append(f"  UNEXPECTED answers: {self.unexpected} (valid data refused or lost)")
            lines += [f"    {sample}" for sample in self.unexpected_samples]
        return "\n".join(lines)


def write_status(path: Path, status: Mapping[str, Any]) -> None:
    """Replace the status file atomically, so a reader never sees half of it."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_bytes(orjson.dumps(status, option=orjson.OPT_INDENT_2))
    os.replace(partial, path)
