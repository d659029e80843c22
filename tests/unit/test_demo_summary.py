"""The live summary of `fleetbed demo run`: parsing its inputs and rendering its frames."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest

from demo.summary import (
    NO_EVENT,
    VIOLATIONS,
    FleetSummary,
    OperatorRebalancing,
    ServerHealth,
    SimulatorStatus,
    Snapshot,
    agency_requests,
    example_requests,
    parse_readiness,
    parse_simulator_status,
    render_line,
    render_screen,
    request_rate,
)

STARTED = datetime(2026, 5, 12, 14, 0, 0, tzinfo=UTC)
NOW = STARTED + timedelta(minutes=3, seconds=7)
LOGS = (".fleetbed/server.log", ".fleetbed/simulator.log")
READY = ServerHealth(True, (), {"201": 90, "409": 2})
FLEET = FleetSummary(
    by_state={"on_trip": 40, NO_EVENT: 5, "available": 200, "non_operational": 10},
    trips_in_progress=40,
    trips_ended=123,
    alerts_recent={"speeding": 3, "zone_enter": 20, "zone_exit": 18},
    alerts_total={"speeding": 9, "parked_in_no_parking_zone": 2, "zone_enter": 50, "zone_exit": 45},
)
SIMULATOR = SimulatorStatus(
    points_sent=12_345,
    points_per_s=512.4,
    events_sent=2_100,
    trips_started=340,
    trips_ended=310,
    rejected_batches=0,
    updated_at=NOW - timedelta(seconds=1),
    sim_time=NOW - timedelta(minutes=95),
    misbehaviour={"speeding": 4, "parking": 7, "comms_loss": 0},
)


def snapshot(**changes: object) -> Snapshot:
    values: dict[str, object] = {
        "taken_at": NOW,
        "fleet": FLEET,
        "fleet_error": None,
        "server": READY,
        "simulator": SIMULATOR,
    }
    values.update(changes)
    return Snapshot(**values)  # type: ignore[arg-type]


def screen(current: Snapshot, previous: Snapshot | None = None) -> list[str]:
    return render_screen(
        current, previous, started=STARTED, base_url="http://127.0.0.1:8000", logs=LOGS
    )


def row(lines: list[str], label: str) -> list[str]:
    """The fields of the one line that starts with `label` (after indentation)."""
    found = [line.split() for line in lines if line.strip().startswith(label)]
    assert len(found) == 1, (label, lines)
    return found[0]


# --- the simulator's status file


def test_the_simulators_status_file_is_read() -> None:
    # As `fleetbed simulate --status-file` writes it.
    raw = orjson.dumps(
        {
            "updated_at": NOW.isoformat(),
            "sim_time": (NOW - timedelta(hours=2)).isoformat(),
            "elapsed_s": 12.5,
            "points_sent": 1000,
            "points_per_s": 250.5,
            "events_sent": 40,
            "trips_sent": 3,
            "trips_started": 12,
            "trips_ended": 9,
            "requests": 55,
            "statuses": {"201": 54, "409": 1},
            "rejected": 1,
            "vehicles_by_state": {"available": 10},
            "misbehaviour": {"parking": 2, "late_batch": 1},
        }
    )
    assert parse_simulator_status(raw) == SimulatorStatus(
        points_sent=1000,
        points_per_s=250.5,
        events_sent=40,
        trips_started=12,
        trips_ended=9,
        rejected_batches=1,
        updated_at=NOW,
        sim_time=NOW - timedelta(hours=2),
        misbehaviour={"parking": 2, "late_batch": 1},
    )


def test_a_status_time_without_offset_is_utc() -> None:
    status = parse_simulator_status(b'{"updated_at": "2026-05-12T14:03:07"}')
    assert status is not None
    assert status.updated_at == NOW


@pytest.mark.parametrize("raw", [b"", b'{"points_sent": 1', b"[1, 2]", b"null", b"\xff"])
def test_a_partial_or_foreign_status_file_is_no_status(raw: bytes) -> None:
    assert parse_simulator_status(raw) is None


def test_missing_or_wrongly_typed_counters_count_as_zero() -> None:
    raw = b'{"points_sent": "many", "points_per_s": null, "updated_at": 17, "misbehaviour": []}'
    assert parse_simulator_status(raw) == SimulatorStatus(0, 0.0, 0, 0, 0, 0, None, None, {})


# --- the server's /readyz and /metrics


def test_readiness_ready_degraded_and_silent() -> None:
    assert parse_readiness(200, b'{"status": "ready"}') == (True, ())
    assert parse_readiness(503, b'{"status": "degraded", "failing": ["redis"]}') == (
        False,
        ("redis",),
    )
    assert parse_readiness(502, b"<html>bad gateway</html>") == (False, ())
    assert parse_readiness(None, b"") == (None, ())


METRICS = """\
# HELP fleetbed_http_requests_total HTTP requests by route template, method and status.
# TYPE fleetbed_http_requests_total counter
fleetbed_http_requests_total{route="/mds/agency/telemetry",method="POST",status="201"} 120.0
fleetbed_http_requests_total{route="/mds/agency/events",method="POST",status="201"} 30.0
fleetbed_http_requests_total{route="/mds/agency/vehicles",method="POST",status="409"} 2.0
fleetbed_http_requests_total{route="/mds/agency/telemetry",method="POST",status="400"} 1.0
fleetbed_http_requests_total{route="/readyz",method="GET",status="200"} 77.0
fleetbed_http_requests_total{route="unmatched",method="GET",status="404"} 5.0
# HELP fleetbed_http_requests_created HTTP requests by route template, method and status.
# TYPE fleetbed_http_requests_created gauge
fleetbed_http_requests_created{route="/mds/agency/telemetry",method="POST",status="201"} 1.7e9
"""


def test_agency_requests_are_summed_by_status_and_other_routes_ignored() -> None:
    assert agency_requests(METRICS) == {"201": 150, "409": 2, "400": 1}


def test_no_agency_requests_yet() -> None:
    assert agency_requests("") == {}


def test_request_rate_between_two_snapshots() -> None:
    before = snapshot(
        taken_at=NOW - timedelta(seconds=2), server=ServerHealth(True, (), {"201": 50})
    )
    after = snapshot(server=ServerHealth(True, (), {"201": 80, "400": 2}))
    assert request_rate(before, after) == pytest.approx(16.0)
    assert request_rate(None, after) is None
    # Counters that went down belong to a restarted server: no rate across that.
    assert request_rate(after, snapshot(server=ServerHealth(True, (), {"201": 3}))) is None
    assert request_rate(after, after) is None


# --- the frame


def test_the_frame_shows_vehicles_by_state_in_mds_order_with_silent_ones_last() -> None:
    lines = screen(snapshot())
    assert row(lines, "vehicles")[1] == "255"
    states = [line.split()[0] for line in lines if line.startswith("  ") and "█" in line]
    assert states == ["available", "on_trip", "non_operational", "no"]
    assert row(lines, "available")[1] == "200"
    assert row(lines, "no event yet")[3] == "5"
    # Bars scale to the largest state.
    assert row(lines, "available")[2] == "█" * 30
    assert row(lines, "on_trip")[2] == "█" * 6


def test_the_frame_shows_trips_and_every_violation_kind_even_at_zero() -> None:
    lines = screen(snapshot())
    assert row(lines, "trips")[1] == "40"
    assert "123 ended" in " ".join(row(lines, "trips"))
    for kind in VIOLATIONS:
        row(lines, kind)
    assert row(lines, "speeding")[1:] == ["3", "9"]
    assert row(lines, "parked_in_no_parking_zone")[1:] == ["0", "2"]
    assert row(lines, "riding_in_no_ride_zone")[1:] == ["0", "0"]
    assert row(lines, "zone enter / exit")[-2:] == ["38", "95"]


def test_an_alert_kind_the_frame_does_not_know_is_still_shown() -> None:
    fleet = FleetSummary({}, 0, 0, {}, {"battery_low": 4})
    assert row(screen(snapshot(fleet=fleet)), "battery_low")[1:] == ["0", "4"]


def test_the_frame_shows_each_operators_last_plan_and_the_vehicles_moved() -> None:
    plans = (
        OperatorRebalancing("Kullacykel", NOW - timedelta(minutes=20), 4, 4, 0, 3),
        OperatorRebalancing("Sundsvik Scooters", NOW - timedelta(minutes=5), 9, 2, 11, 40),
    )
    lines = screen(snapshot(fleet=replace(FLEET, rebalancing=plans)))
    assert "cells in deficit" in " ".join(row(lines, "rebalancing"))
    assert " ".join(row(lines, "Sundsvik Scooters")[2:]) == "9 → 2 at 13:58 11 (40 since start)"
    assert " ".join(row(lines, "Kullacykel")[1:]) == "4 → 4 at 13:43 0 (3 since start)"
    assert "no plan yet" in " ".join(row(screen(snapshot()), "rebalancing"))


def test_the_frame_heads_with_the_docs_url_and_uptime_and_ends_with_the_logs() -> None:
    lines = screen(snapshot())
    assert "http://127.0.0.1:8000/docs" in lines[0]
    assert "14:03:07 UTC · up 00:03:07" in lines[0]
    assert LOGS[0] in lines[-1]
    assert LOGS[1] in lines[-1]
    assert "Ctrl-C stops everything" in lines[-1]


def test_server_health_and_request_rate() -> None:
    previous = snapshot(taken_at=NOW - timedelta(seconds=2), server=ServerHealth(True, (), {}))
    server = row(screen(snapshot(), previous), "server")
    assert server[1] == "ready"
    assert "46.0/s" in server
    assert server[server.index("2xx") + 1] == "90"
    assert server[server.index("4xx") + 1] == "2"
    degraded = ServerHealth(False, ("redis", "hotstate"), {})
    assert "degraded: redis, hotstate" in " ".join(row(screen(snapshot(server=degraded)), "server"))
    silent = ServerHealth(None, (), {})
    assert "not answering" in " ".join(row(screen(snapshot(server=silent)), "server"))


def test_simulator_running_starting_silent_and_rejecting() -> None:
    lines = screen(snapshot())
    running = " ".join(row(lines, "simulator"))
    assert "running" in running
    assert "512 points/s" in running
    assert "12,345 points and 2,100 events sent" in running
    # Its clock is still catching up with real time: shown.
    assert "340 trips started, 310 ended, its clock at 12:28 UTC" in "\n".join(lines)
    assert "misbehaving: parking 7, speeding 4" in "\n".join(lines)
    caught_up = replace(SIMULATOR, sim_time=NOW - timedelta(seconds=5), misbehaviour={})
    caught_up_text = "\n".join(screen(snapshot(simulator=caught_up)))
    assert "its clock" not in caught_up_text
    assert "misbehaving: not yet" in caught_up_text
    assert "REJECTED" not in running
    starting = " ".join(row(screen(snapshot(simulator=None)), "simulator"))
    assert "starting" in starting
    old = replace(SIMULATOR, updated_at=NOW - timedelta(seconds=30))
    assert "silent for 30 s" in " ".join(row(screen(snapshot(simulator=old)), "simulator"))
    rejecting = replace(SIMULATOR, rejected_batches=3)
    assert "3 REJECTED" in " ".join(row(screen(snapshot(simulator=rejecting)), "simulator"))


def test_a_database_that_did_not_answer_is_said_and_the_rest_still_shown() -> None:
    lines = screen(snapshot(fleet=None, fleet_error="TimeoutError"))
    assert "(the database did not answer: TimeoutError)" in " ".join(row(lines, "vehicles"))
    row(lines, "server")
    assert not any(line.strip().startswith("speeding") for line in lines)


def test_the_plain_line_for_logs_and_pipes() -> None:
    line = render_line(snapshot(), started=STARTED)
    assert "\n" not in line
    assert "\x1b" not in line
    assert line.startswith("14:03:07 up 00:03:07")
    assert "server ready" in line
    assert "512 points/s" in line
    assert "vehicles: available 200, on_trip 40, non_operational 10, no_event 5" in line
    assert "trips in progress 40" in line
    assert "parked_in_no_parking_zone 2" in line
    assert "speeding 9" in line
    silent = render_line(
        snapshot(fleet=None, fleet_error="OSError", simulator=None), started=STARTED
    )
    assert "database: OSError" in silent
    assert "points/s" not in silent


# --- example requests


def test_example_requests_read_keys_from_the_file_and_call_each_api() -> None:
    lines = example_requests(
        "http://127.0.0.1:8000", ".fleetbed/demo-keys.json", "sundsvik", date(2026, 5, 12)
    )
    auditor, manager, agent, *curls = lines
    assert auditor.startswith("AUDITOR=$(python3 -c ")
    assert '["city"]["city_auditor"]' in auditor
    assert auditor.endswith(" .fleetbed/demo-keys.json)")
    assert manager.startswith("MANAGER=")
    assert '["providers"]["sundsvik"]["manager_key"]' in manager
    assert agent.startswith("AGENT=")
    assert '["providers"]["sundsvik"]["agent_key"]' in agent
    assert all(c.startswith('curl -s "http://127.0.0.1:8000/') for c in curls)
    paths = [c.split('"')[1].removeprefix("http://127.0.0.1:8000") for c in curls]
    assert [p.split("?")[0] for p in paths] == [
        "/v1/vehicles",
        "/v1/supply",
        "/mds/provider/vehicles/status",
        "/v1/alerts",
        "/v1/tasks",
        "/v1/exports/trips",
    ]
    assert "near=56.0440,12.6940" in paths[0]
    assert "near=56.0440,12.6940" in paths[4]
    assert "from=2026-05-11T00:00:00Z&to=2026-05-13T00:00:00Z" in paths[5]
    assert "privacy=open" in paths[5]
    keys = {3: "$MANAGER", 4: "$AGENT"}
    assert all(keys.get(i, "$AUDITOR") in c for i, c in enumerate(curls))


def test_a_keys_path_with_spaces_is_quoted_for_the_shell() -> None:
    auditor = example_requests("http://h:1", "my keys/k.json", "sundsvik", date(2026, 1, 1))[0]
    assert auditor.endswith(" 'my keys/k.json')")
