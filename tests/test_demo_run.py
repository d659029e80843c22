"""`fleetbed demo run`: the live summary's queries against the real database, the example
requests it prints run in a real shell, and a whole run started and stopped."""

import os
import queue
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO

import orjson
import pytest
from redis import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from demo.city import GEODATA
from demo.run import Demo, DemoPaths
from demo.summary import NO_EVENT, example_requests
from demo.summary_queries import fleet_summary
from fleet.alerts.models import AlertRecord
from tests.config import TEST_REDIS_URL
from tests.conftest import TenantFactory, make_settings
from tests.mds_schemas import PROJECT_ROOT
from tests.processes import FLEETBED, free_port
from tests.rows import add_event, add_trip, add_vehicle

# Generous bounds for a shared 2-core machine; they only keep a hung run from hanging CI.
START_TIMEOUT_S = 180
STOP_TIMEOUT_S = 60


async def add_alert(
    session: AsyncSession, provider_id: uuid.UUID | None, kind: str, created_at: datetime
) -> None:
    """An alert of one of `provider_id`'s vehicles, stored at `created_at`."""
    assert provider_id is not None
    session.add(
        AlertRecord(
            alert_id=uuid.uuid4(),
            provider_id=provider_id,
            device_id=uuid.uuid4(),
            kind=kind,
            zone_id=None,
            occurred_at=created_at,
            lat=56.044,
            lng=12.694,
            details={},
            created_at=created_at,
        )
    )
    await session.flush()


async def test_fleet_summary_counts_the_fleet_trips_and_alerts_of_the_providers_asked(
    session: AsyncSession, tenant: TenantFactory
) -> None:
    ours = (await tenant(Role.OPERATOR_MANAGER)).provider_id
    theirs = (await tenant(Role.OPERATOR_MANAGER)).provider_id
    assert ours is not None
    assert theirs is not None
    now = datetime.now(UTC)
    since = now - timedelta(hours=1)

    riding, servicing, parked, _silent = [await add_vehicle(session, ours) for _ in range(4)]
    await add_event(session, ours, riding, at=now - timedelta(seconds=60))
    await add_event(
        session, ours, riding, at=now - timedelta(seconds=10), state="on_trip", types=["trip_start"]
    )
    # Stored out of order: the later event still decides the state.
    await add_event(
        session,
        ours,
        servicing,
        at=now - timedelta(seconds=5),
        state="non_operational",
        types=["maintenance_pick_up"],
    )
    await add_event(session, ours, servicing, at=now - timedelta(seconds=50))
    await add_event(session, ours, parked, at=now - timedelta(seconds=30))
    elsewhere = await add_vehicle(session, theirs)
    await add_event(session, theirs, elsewhere, at=now, state="on_trip", types=["trip_start"])

    await add_trip(session, ours, riding, end_at=now, status="open")
    await add_trip(session, ours, parked, end_at=now)
    earlier = await add_trip(session, ours, parked, end_at=now - timedelta(hours=2))
    earlier.updated_at = since - timedelta(minutes=1)
    await add_trip(session, ours, servicing, end_at=now, status="cancelled")
    await add_trip(session, theirs, elsewhere, end_at=now, status="open")
    await session.flush()

    await add_alert(session, ours, "speeding", now - timedelta(minutes=1))
    await add_alert(session, ours, "speeding", now - timedelta(minutes=30))
    await add_alert(session, ours, "speeding", since - timedelta(minutes=1))
    await add_alert(session, ours, "zone_enter", now - timedelta(minutes=2))
    await add_alert(session, theirs, "parked_in_no_parking_zone", now - timedelta(minutes=1))

    summary = await fleet_summary(
        session, since=since, recent_since=now - timedelta(minutes=10), provider_ids=[ours]
    )
    assert summary.by_state == {"on_trip": 1, "non_operational": 1, "available": 1, NO_EVENT: 1}
    assert (summary.trips_in_progress, summary.trips_ended) == (1, 1)
    assert summary.alerts_recent == {"speeding": 1, "zone_enter": 1}
    assert summary.alerts_total == {"speeding": 2, "zone_enter": 1}

    both = await fleet_summary(
        session, since=since, recent_since=now - timedelta(minutes=10), provider_ids=[ours, theirs]
    )
    assert both.by_state["on_trip"] == 2
    assert both.trips_in_progress == 2
    assert both.alerts_total["parked_in_no_parking_zone"] == 1

    # Without a provider list every provider counts (others' committed data included).
    everyone = await fleet_summary(session, since=since, recent_since=now - timedelta(minutes=10))
    assert everyone.by_state["on_trip"] >= 2
    assert everyone.trips_in_progress >= 2
    assert everyone.alerts_total["speeding"] >= 2
    assert everyone.alerts_total["parked_in_no_parking_zone"] >= 1


async def test_fleet_summary_of_a_provider_with_nothing_yet(
    session: AsyncSession, tenant: TenantFactory
) -> None:
    empty = (await tenant(Role.OPERATOR_MANAGER)).provider_id
    assert empty is not None
    now = datetime.now(UTC)
    summary = await fleet_summary(
        session, since=now - timedelta(hours=1), recent_since=now, provider_ids=[empty]
    )
    assert summary.by_state == {}
    assert (summary.trips_in_progress, summary.trips_ended) == (0, 0)
    assert (summary.alerts_recent, summary.alerts_total) == ({}, {})


def test_the_example_requests_read_the_keys_in_a_shell_without_showing_them(
    tmp_path: Path,
) -> None:
    keys = {
        "providers": {"sundsvik": {"manager_key": "fbk_manager.s3cret-m"}},
        "city": {"city_auditor": "fbk_auditor.s3cret-a"},
    }
    folder = tmp_path / ".fleetbed"
    folder.mkdir()
    (folder / "demo-keys.json").write_bytes(orjson.dumps(keys))
    lines = example_requests(
        "http://127.0.0.1:8000", ".fleetbed/demo-keys.json", "sundsvik", date(2026, 5, 12)
    )
    assert not any("s3cret" in line for line in lines)

    script = "\n".join([*lines[:2], 'printf "%s\\n" "$AUDITOR" "$MANAGER"'])
    shown = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert shown.stdout.split() == ["fbk_auditor.s3cret-a", "fbk_manager.s3cret-m"]
    # Every line is valid shell as printed.
    syntax = subprocess.run(["bash", "-n", "-c", "\n".join(lines)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr


def _command_exists(*words: str) -> bool:
    done = subprocess.run([FLEETBED, *words, "--help"], capture_output=True, check=False)
    return done.returncode == 0


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _secrets(keys_file: Path) -> list[str]:
    keys = orjson.loads(keys_file.read_bytes())
    operators = [v for op in keys["providers"].values() for k, v in op.items() if "key" in k]
    return [*operators, *keys["city"].values()]


def _read_lines(stream: IO[str], into: "queue.Queue[str | None]") -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def _lines_until(source: "queue.Queue[str | None]", seconds: float) -> Iterator[str]:
    """Lines as they come, until the stream ends or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            line = source.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return
        if line is None:
            return
        yield line


@pytest.fixture
def demo_redis() -> Iterator[str]:
    """The test Redis database, flushed after the demo ran against it."""
    yield TEST_REDIS_URL
    Redis.from_url(TEST_REDIS_URL).flushdb()


# End to end and slow-ish (about half a minute): a whole `fleetbed demo run` with a tiny
# fleet, in a scratch database, on a free port, stopped with SIGINT as Ctrl-C would.
def test_demo_run_seeds_serves_simulates_shows_the_summary_and_stops_cleanly(
    scratch_database_url: str, demo_redis: str, tmp_path: Path
) -> None:
    if not (PROJECT_ROOT / GEODATA).is_file():
        pytest.skip(f"Helsingborg geodata not found at {PROJECT_ROOT / GEODATA}")
    if not (_command_exists("demo", "seed") and _command_exists("simulate")):
        pytest.skip("needs `fleetbed demo seed` and `fleetbed simulate`")
    port = free_port()
    keys = tmp_path / ".fleetbed" / "demo-keys.json"
    env = {
        **os.environ,
        "FLEETBED_DATABASE_URL": scratch_database_url,
        "FLEETBED_REDIS_URL": demo_redis,
    }
    demo = subprocess.Popen(
        [FLEETBED, "demo", "run", "--vehicles", "20", "--port", str(port), "--keys", str(keys)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert demo.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(demo.stdout, lines), daemon=True)
    reader.start()
    output: list[str] = []
    try:
        # Not a screen (a pipe): one summary line every 2 s. Wait for one that shows the
        # simulator's counters next to a ready server: every part is then up.
        for line in _lines_until(lines, START_TIMEOUT_S):
            output.append(line)
            if "| server ready |" in line and "points/s" in line:
                break
        else:
            pytest.fail("no summary with the simulator's counters:\n" + "".join(output))
        assert _listening(port)
        demo.send_signal(signal.SIGINT)
        status = demo.wait(timeout=STOP_TIMEOUT_S)
        reader.join(timeout=STOP_TIMEOUT_S)
        output.extend(_lines_until(lines, 0))
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    text = "".join(output)
    assert status == 0, text
    assert "demo: stopping the simulator" in text
    assert text.index("stopping the simulator") < text.index("stopping the server")
    assert f"logs: {keys.parent / 'server.log'}, {keys.parent / 'simulator.log'}" in text
    assert not _listening(port)
    assert f"http://127.0.0.1:{port}/docs" in text
    assert "AUDITOR=$(python3 -c" in text
    for secret in _secrets(keys):
        assert secret not in text
        assert secret not in (keys.parent / "server.log").read_text()


@pytest.mark.parametrize("mqtt_url", [None, "mqtt://127.0.0.1:1883"])
def test_with_a_broker_the_server_and_the_simulator_both_use_it(
    tmp_path: Path, mqtt_url: str | None
) -> None:
    demo = Demo(
        make_settings(),
        DemoPaths(tmp_path / "demo-keys.json"),
        vehicles=5,
        speed=2,
        trips_per_day=1,
        host="127.0.0.1",
        port=8000,
        mqtt_url=mqtt_url,
    )
    args = demo.simulator_args()
    assert args[0] == "simulate"
    if mqtt_url is None:
        assert "--mqtt" not in args
        assert demo.env.get("FLEETBED_MQTT__URL") == os.environ.get("FLEETBED_MQTT__URL")
    else:
        assert args[args.index("--mqtt") + 1] == mqtt_url
        assert demo.env["FLEETBED_MQTT__URL"] == mqtt_url
