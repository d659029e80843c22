"""The processes and stores a benchmark runs against: bench database, Redis, servers."""

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import asyncpg
import httpx
from redis import Redis
from sqlalchemy.engine import make_url

from bench.workload import Fleet, vehicle_bodies

BIN = Path(sys.executable).parent
FLEETBED = str(BIN / "fleetbed")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MDS_ACCEPT = "application/vnd.mds+json;version=2.0"
READY_TIMEOUT_S = 60.0
# Everything the bench writes; the schema's own tables stay.
# The audit log is append-only (the database refuses TRUNCATE); the bench leaves it be.
_KEEP = ("alembic_version", "spatial_ref_sys", "audit_log")


class BenchError(Exception):
    """A step of the benchmark failed; the message says which."""


def require_loopback(url: str) -> None:
    """Refuse to point the benchmark anywhere but this machine."""
    host = make_url(url.replace("redis://", "postgresql://", 1)).host
    if host not in LOOPBACK:
        raise BenchError(f"{url}: the benchmark only talks to loopback addresses")


def free_port() -> int:
    """A TCP port on the loopback interface that nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(database_url: str, redis_url: str) -> dict[str, str]:
    """Production-like settings for `fleetbed` processes run by the bench."""
    return {
        **os.environ,
        "FLEETBED_DATABASE_URL": database_url,
        "FLEETBED_REDIS_URL": redis_url,
        "FLEETBED_LOG_LEVEL": "WARNING",
        "FLEETBED_AUTH__KEY_CACHE_TTL_S": "5",
        "FLEETBED_AUTH__JWT_SECRET": "bench-" + "j" * 40,
    }


def fleetbed_cli(env: dict[str, str], *args: str) -> str:
    """Run a `fleetbed` command; its stdout, or BenchError with its stderr."""
    done = subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [FLEETBED, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"fleetbed {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout.strip()


def fresh_provider(
    database_url: str, redis_url: str, name: str, role: str
) -> tuple[dict[str, str], str, str]:
    """Bootstrap and empty the bench's stores, then one provider with a key of `role`:
    the servers' environment, the provider's id and the key."""
    for url in (database_url, redis_url):
        require_loopback(url)
    env = server_env(database_url, redis_url)
    fleetbed_cli(env, "bootstrap")
    reset_stores(database_url, [redis_url])
    provider = fleetbed_cli(env, "admin", "create-provider", "--name", name)
    key = fleetbed_cli(env, "admin", "create-key", "--provider", provider, "--role", role)
    return env, provider, key


async def _connect(database_url: str) -> asyncpg.Connection:
    dsn = make_url(database_url).set(drivername="postgresql")
    return await asyncpg.connect(dsn.render_as_string(hide_password=False), timeout=10)


async def _truncate(database_url: str) -> list[str]:
    conn = await _connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
            "AND c.relname <> ALL($1::text[])",
            list(_KEEP),
        )
        names = [str(row["relname"]) for row in rows]
        if names:
            quoted = ", ".join('"' + name.replace('"', '""') + '"' for name in names)
            await conn.execute(f"TRUNCATE {quoted} CASCADE")
        return names
    finally:
        await conn.close()


def database_name(database_url: str) -> str:
    """The database a URL points to."""
    return make_url(database_url).database or ""


async def _truncate_history(database_url: str) -> None:
    conn = await _connect(database_url)
    try:
        await conn.execute("TRUNCATE telemetry, events, alerts")
    finally:
        await conn.close()


def reset_history(database_url: str, redis_urls: Sequence[str]) -> None:
    """Forget what a phase ingested (history, events, alerts, live state); keep the fleet."""
    for url in redis_urls:
        with Redis.from_url(url) as redis:
            redis.flushdb()
    asyncio.run(_truncate_history(database_url))


def reset_stores(database_url: str, redis_urls: Sequence[str]) -> list[str]:
    """Empty what earlier runs wrote: every table of the bench database, the Redis dbs."""
    for url in redis_urls:
        with Redis.from_url(url) as redis:
            redis.flushdb()
    return asyncio.run(_truncate(database_url))


@dataclass(frozen=True)
class Gateway:
    """The benchmark's provider and its gateway key."""

    provider_id: str
    key: str


def create_gateway(env: dict[str, str], name: str) -> Gateway:
    """A provider and a gateway key, through the admin CLI as an operator would."""
    provider_id = fleetbed_cli(env, "admin", "create-provider", "--name", name)
    key = fleetbed_cli(env, "admin", "create-key", "--provider", provider_id, "--role", "gateway")
    return Gateway(provider_id, key)


class ServerProcess:
    """A server started as its own process, logging to a file, stopped on exit."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        with log_path.open("w") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own programs, fixed arguments
                [*argv, "--host", "127.0.0.1", "--port", str(self.port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        """The server's process id (what the CPU figures are read from)."""
        return self.process.pid

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's output, for error messages."""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, path: str) -> None:
        """Poll `path` until it answers 200."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(self.base_url + path, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise BenchError(f"{self.name} did not become ready:\n{self.log_tail()}")

    def stop(self) -> None:
        """Terminate, then kill if it lingers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_fleetbed(
    env: dict[str, str], log_dir: Path, workers: int = 1, name: str = "fleetbed"
) -> ServerProcess:
    """`fleetbed serve` on a free loopback port (with `--workers` only when asked)."""
    argv = [FLEETBED, "serve", *(["--workers", str(workers)] if workers > 1 else [])]
    return ServerProcess(name, argv, env, log_dir / f"{name}.log")


def start_baseline(database_url: str, redis_url: str, log_dir: Path) -> ServerProcess:
    """The naive implementation (bench.naive_ingest) under uvicorn on a free loopback port."""
    argv = [sys.executable, "-m", "bench.naive_ingest", "--database-url", database_url]
    argv += ["--redis-url", redis_url]
    return ServerProcess("baseline", argv, dict(os.environ), log_dir / "baseline.log")


def register_fleet(base_url: str, key: str, fleet: Fleet, batch_size: int) -> None:
    """POST /mds/agency/vehicles in batches; every batch must be created."""
    headers = {
        "Authorization": f"Bearer {key}",
        "Accept": MDS_ACCEPT,
        "Content-Type": "application/json",
    }
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
        for body in vehicle_bodies(fleet, batch_size):
            response = client.post("/mds/agency/vehicles", content=body)
            if response.status_code != 201:
                raise BenchError(
                    f"registering vehicles: HTTP {response.status_code}: {response.text[:500]}"
                )
