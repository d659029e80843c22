"""`fleetbed demo run`: seed the demo city, serve the API, drive a simulated fleet through it.

Each part runs as a `fleetbed` child process (the server and the simulator with their
output in log files beside the keys file), and this process watches them and redraws a
live summary until Ctrl-C or SIGTERM, which stop the simulator first, then the server.
"""

import asyncio
import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.resources import make_engine
from app.settings import Settings
from demo.city import OPERATORS
from demo.summary import (
    RECENT,
    FleetSummary,
    ServerHealth,
    Snapshot,
    agency_requests,
    example_requests,
    parse_readiness,
    parse_simulator_status,
    render_line,
    render_screen,
)
from demo.summary_queries import fleet_summary

CLI = (sys.executable, "-m", "app.cli")
REFRESH_S = 2.0
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 10.0
QUERY_TIMEOUT_S = 5.0
HTTP_TIMEOUT_S = 2.0
LOG_TAIL_LINES = 20
_PR_SET_PDEATHSIG = 1


class DemoError(Exception):
    """A step of the demo failed; the message says which and what to look at."""


@dataclass(frozen=True)
class DemoPaths:
    """Where the demo keeps its keys, logs and the simulator's status file."""

    keys: Path

    @property
    def directory(self) -> Path:
        """The folder of the keys file; the logs go there too."""
        return self.keys.parent

    @property
    def server_log(self) -> Path:
        """The API server's stdout and stderr."""
        return self.directory / "server.log"

    @property
    def simulator_log(self) -> Path:
        """The simulator's stdout and stderr (its final report included)."""
        return self.directory / "simulator.log"

    @property
    def status_file(self) -> Path:
        """The simulator's counters, rewritten every second."""
        return self.directory / "simulator-status.json"


def _say(message: str) -> None:
    print(f"demo: {message}", flush=True)


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


def _client_host(host: str) -> str:
    """The address a local client reaches a server bound to `host` at."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - mapping a wildcard bind to loopback
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host.strip("[]"), port), timeout=1):
            return True
    except OSError:
        return False


def _child_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    if settings.exports.salt is None and settings.auth.jwt_secret is None:
        # Open exports need a pseudonym key; without a configured one, one for this run.
        env["FLEETBED_EXPORTS__SALT"] = secrets.token_urlsafe(32)
    return env


def _die_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook so that children get SIGTERM if this process is killed outright."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return hook


def _step(name: str, args: list[str], env: dict[str, str], *, quiet: bool = False) -> None:
    """Run one `fleetbed` command to its end; `quiet`: its output only if it fails."""
    _say(name)
    done = subprocess.run(  # noqa: S603 - our own CLI
        [*CLI, *args], env=env, capture_output=quiet, text=True, check=False
    )
    if done.returncode != 0:
        output = f":\n{done.stdout}{done.stderr}".rstrip() if quiet else ""
        raise DemoError(
            f"'fleetbed {' '.join(args)}' failed (exit status {done.returncode}){output}"
        )


class Child:
    """A long-running `fleetbed` child process with its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        with log.open("w") as sink:
            # A process group of its own: Ctrl-C reaches this process only, which then
            # stops the children in order (simulator first, so it never talks to a
            # server that is going away).
            self.process = subprocess.Popen(  # noqa: S603 - our own CLI
                [*CLI, *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                process_group=0,
                preexec_fn=_die_with_parent(),
            )

    def exited(self) -> int | None:
        """The exit status, or None while it runs."""
        return self.process.poll()

    def stop(self) -> int:
        """SIGTERM, up to STOP_TIMEOUT_S to finish, then SIGKILL; returns the exit status."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                return self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _say(f"the {self.name} did not stop within {STOP_TIMEOUT_S:.0f} s; killing it")
                self.process.kill()
        return self.process.wait()


def _get(url: str) -> tuple[int | None, bytes]:
    """GET on loopback: (status, body), or (None, b"") when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as answer:  # noqa: S310
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, OSError):
        return None, b""


class Screen:
    """Redraws the summary in place on a terminal; plain lines otherwise."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.height = 0

    def show(self, lines: list[str], line: str) -> None:
        """One frame: `lines` on a terminal, the single `line` elsewhere."""
        if not self.tty:
            self.out.write(line + "\n")
            self.out.flush()
            return
        columns, rows = shutil.get_terminal_size()
        # Cut lines to the width so none wraps and the cursor arithmetic holds.
        lines = [text[: columns - 1] for text in lines]
        if self.height and len(lines) < rows:
            # Back over the previous frame only: the URLs and examples above stay in view.
            head = f"\x1b[{self.height}F\x1b[J"
        elif self.height:
            head = "\x1b[H\x1b[2J"
        else:
            head = ""
        self.out.write(head + "\n".join(lines) + "\n")
        self.out.flush()
        self.height = len(lines)


class Demo:
    """The running demo: its children, and the loop that watches them."""

    def __init__(
        self,
        settings: Settings,
        paths: DemoPaths,
        *,
        vehicles: int,
        speed: float,
        trips_per_day: float,
        host: str,
        port: int,
        mqtt_url: str | None = None,
    ) -> None:
        self.settings = settings
        self.paths = paths
        self.vehicles = vehicles
        self.speed = speed
        self.trips_per_day = trips_per_day
        self.host = host
        self.port = port
        self.base_url = f"http://{_client_host(host)}:{port}"
        self.mqtt_url = mqtt_url
        self.env = _child_env(settings)
        if mqtt_url is not None:
            # The server delivers commands over MQTT too; the simulator takes them there.
            self.env["FLEETBED_MQTT__URL"] = mqtt_url
        self.started = datetime.now(UTC)
        self.server: Child | None = None
        self.simulator: Child | None = None

    def prepare(self) -> None:
        """Migrate and seed, each to its end."""
        if _listening(_client_host(self.host), self.port):
            raise DemoError(
                f"something already listens on {self.base_url} (another fleetbed?); stop it, "
                "or choose another port: make run PORT=8080"
            )
        _step("migrating the database", ["migrate"], self.env, quiet=True)
        _step(
            f"seeding the demo city ({self.vehicles} vehicles)",
            ["demo", "seed", "--vehicles", str(self.vehicles), "--keys", str(self.paths.keys)],
            self.env,
        )
        self.paths.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def start_server(self) -> None:
        """`fleetbed serve` in the background."""
        _say(f"starting the API server on {self.base_url} (log: {self.paths.server_log})")
        self.server = Child(
            "server",
            ["serve", "--host", self.host, "--port", str(self.port)],
            self.env,
            self.paths.server_log,
        )

    def simulator_args(self) -> list[str]:
        """The `fleetbed` arguments of the simulator."""
        return [
            "simulate",
            "--base-url",
            self.base_url,
            "--keys",
            str(self.paths.keys),
            "--vehicles",
            str(self.vehicles),
            "--speed",
            f"{self.speed:g}",
            "--trips-per-day",
            f"{self.trips_per_day:g}",
            "--status-file",
            str(self.paths.status_file),
            *(["--mqtt", self.mqtt_url] if self.mqtt_url is not None else []),
        ]

    def start_simulator(self) -> None:
        """`fleetbed simulate` in the background, reporting to the status file."""
        self.paths.status_file.unlink(missing_ok=True)
        _say(
            f"starting the simulator: {self.vehicles} vehicles at {self.speed:g}x real time "
            f"(log: {self.paths.simulator_log})"
        )
        self.simulator = Child(
            "simulator", self.simulator_args(), self.env, self.paths.simulator_log
        )

    def children(self) -> list[Child]:
        """The children started so far, in the order they are stopped."""
        return [c for c in (self.simulator, self.server) if c is not None]

    def dead_child(self) -> Child | None:
        """A child that exited although nobody asked it to."""
        return next((c for c in self.children() if c.exited() is not None), None)

    def stop(self) -> None:
        """Stop the simulator, then the server."""
        for child in self.children():
            if child.exited() is not None:
                continue
            _say(f"stopping the {child.name}")
            status = child.stop()
            if child is self.simulator and status != 0:
                _say(
                    f"the simulator ended with status {status}: the server rejected batches "
                    f"it considered valid, or it failed; its report: {child.log}"
                )

    async def wait_ready(self, stop: asyncio.Event) -> bool:
        """Wait for `/readyz` to answer 200; False if asked to stop first."""
        assert self.server is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT_S
        while loop.time() < deadline:
            if stop.is_set():
                return False
            status = self.server.exited()
            if status is not None:
                raise DemoError(
                    f"the server exited during start-up (status {status}); "
                    f"its log ends with:\n{_tail(self.server.log)}"
                )
            code, _ = await asyncio.to_thread(_get, f"{self.base_url}/readyz")
            if code == 200:
                return True
            await asyncio.sleep(0.5)
        raise DemoError(
            f"the server was not ready within {READY_TIMEOUT_S:.0f} s ({self.base_url}/readyz); "
            f"its log ends with:\n{_tail(self.server.log)}"
        )

    async def snapshot(self, sessionmaker: async_sessionmaker[AsyncSession]) -> Snapshot:
        """Counts from the database, the server and the simulator's status file."""
        now = datetime.now(UTC)
        fleet: FleetSummary | None = None
        error: str | None = None
        try:
            async with sessionmaker() as session:
                fleet = await asyncio.wait_for(
                    fleet_summary(session, since=self.started, recent_since=now - RECENT),
                    QUERY_TIMEOUT_S,
                )
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            error = type(exc).__name__
        ready_code, ready_body = await asyncio.to_thread(_get, f"{self.base_url}/readyz")
        metrics_code, metrics_body = await asyncio.to_thread(_get, f"{self.base_url}/metrics")
        ready, failing = parse_readiness(ready_code, ready_body)
        counts = (
            agency_requests(metrics_body.decode(errors="replace")) if metrics_code == 200 else {}
        )
        try:
            simulator = parse_simulator_status(self.paths.status_file.read_bytes())
        except OSError:
            simulator = None
        return Snapshot(now, fleet, error, ServerHealth(ready, failing, counts), simulator)

    def introduce(self) -> None:
        """The URLs and example requests, printed once above the live summary."""
        keys = str(self.paths.keys)
        print(
            "\n".join(
                [
                    "",
                    f"fleetbed is serving the demo city at {self.base_url}",
                    f"  interactive API docs  {self.base_url}/docs",
                    f"  readiness             {self.base_url}/readyz",
                    f"  zones (MDS Geography) {self.base_url}/mds/geographies",
                    f"  keys of every role    {keys}  (secret; never printed)",
                    "Try, in another terminal in this directory:",
                    *(
                        f"  {line}"
                        for line in example_requests(
                            self.base_url, keys, OPERATORS[0].key, self.started.date()
                        )
                    ),
                    "",
                ]
            ),
            flush=True,
        )

    async def watch(self, screen: Screen) -> int:
        """Start the server and the simulator, then redraw the summary until stopped."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, stop.set)
        self.start_server()
        if not await self.wait_ready(stop):
            return 0
        self.start_simulator()
        self.introduce()
        engine = make_engine(self.settings.model_copy(update={"db_pool_size": 1}))
        sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        logs = (str(self.paths.server_log), str(self.paths.simulator_log))
        previous: Snapshot | None = None
        try:
            while not stop.is_set():
                dead = self.dead_child()
                if dead is not None:
                    _say(
                        f"the {dead.name} exited unexpectedly (status {dead.exited()}); "
                        f"its log ends with:\n{_tail(dead.log)}"
                    )
                    return 1
                current = await self.snapshot(sessionmaker)
                screen.show(
                    render_screen(
                        current, previous, started=self.started, base_url=self.base_url, logs=logs
                    ),
                    render_line(current, started=self.started),
                )
                previous = current
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), REFRESH_S)
        finally:
            await engine.dispose()
        return 0


def run_demo(
    settings: Settings,
    *,
    vehicles: int,
    speed: float,
    trips_per_day: float,
    host: str,
    port: int,
    keys: Path,
    mqtt_url: str | None = None,
) -> int:
    """Seed, serve, simulate and show the live summary until Ctrl-C; the exit status.
    With `mqtt_url`, vehicle commands travel through that MQTT broker."""
    demo = Demo(
        settings,
        DemoPaths(keys),
        vehicles=vehicles,
        speed=speed,
        trips_per_day=trips_per_day,
        host=host,
        port=port,
        mqtt_url=mqtt_url,
    )
    try:
        demo.prepare()
        return asyncio.run(demo.watch(Screen(sys.stdout)))
    except DemoError as exc:
        _say(str(exc))
        return 1
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    finally:
        demo.stop()
        if demo.server is not None:
            _say(f"logs: {demo.paths.server_log}, {demo.paths.simulator_log}")
