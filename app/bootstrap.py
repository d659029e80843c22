"""Make this machine ready: PostgreSQL with PostGIS, Redis, the database, its schema.

Idempotent and quick when all is present. Installs or starts what is missing on a
local Debian machine when run as root; otherwise stops with one sentence saying what to do.
"""

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.engine import URL, make_url

from app.migrations import upgrade
from app.settings import Settings

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", None, ""}


class BootstrapError(Exception):
    """A step that could not be done here; the message says what the user should do."""


def _say(message: str) -> None:
    print(f"bootstrap: {message}", flush=True)


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _dsn(url: URL, database: str | None = None) -> str:
    plain = url.set(drivername="postgresql")
    if database is not None:
        plain = plain.set(database=database)
    return plain.render_as_string(hide_password=False)


async def _connect(url: URL, database: str) -> asyncpg.Connection:
    return await asyncpg.connect(_dsn(url, database), timeout=5)


async def _server_reachable(url: URL) -> bool:
    try:
        conn = await _connect(url, "postgres")
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


def _start_local_postgres() -> None:
    clusters = Path("/etc/postgresql")
    if not (_is_root() and shutil.which("pg_ctlcluster") and clusters.is_dir()):
        raise BootstrapError(
            "PostgreSQL is not reachable; "
            "start it or set FLEETBED_DATABASE_URL to a running server."
        )
    for version in sorted(p.name for p in clusters.iterdir()):
        _say(f"starting PostgreSQL {version}")
        subprocess.run(  # noqa: S603
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],  # noqa: S607
            check=False,
            capture_output=True,
        )


async def ensure_postgres(url: URL) -> None:
    """PostgreSQL answers; started here when it is local and stopped."""
    if await _server_reachable(url):
        return
    if url.host not in LOCAL_HOSTS:
        raise BootstrapError(f"PostgreSQL at {url.host}:{url.port} is not reachable.")
    _start_local_postgres()
    for _ in range(30):
        if await _server_reachable(url):
            return
        await asyncio.sleep(0.5)
    raise BootstrapError("PostgreSQL did not come up; see its log under /var/log/postgresql.")


async def _server_major(url: URL) -> int:
    conn = await _connect(url, "postgres")
    try:
        return int(await conn.fetchval("SHOW server_version_num")) // 10000
    finally:
        await conn.close()


def install_postgis(url: URL, package: str) -> None:
    """Install PostGIS with apt when the server is local and we are root."""
    if url.host not in LOCAL_HOSTS or not (_is_root() and shutil.which("apt-get")):
        raise BootstrapError(f"PostGIS is missing on the server; install {package} there.")
    _say(f"installing {package} (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        subprocess.run(command, check=True, env=env, capture_output=True)  # noqa: S603


async def ensure_database(url: URL) -> None:
    """The database exists."""
    name = url.database or "fleetbed"
    conn = await _connect(url, "postgres")
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            _say(f"creating database {name}")
            quoted = '"' + name.replace('"', '""') + '"'
            await conn.execute(f"CREATE DATABASE {quoted}")
    finally:
        await conn.close()


async def enable_postgis(url: URL) -> bool:
    """Enable PostGIS in the database and call into it; False when the server lacks it."""
    conn = await _connect(url, url.database or "fleetbed")
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        # The extension's control file can outlive its library; only a call proves both.
        await conn.fetchval("SELECT postgis_lib_version()")
    except asyncpg.InsufficientPrivilegeError as exc:
        raise BootstrapError(
            "cannot enable PostGIS; ask a superuser to run CREATE EXTENSION postgis."
        ) from exc
    except asyncpg.PostgresError:
        return False
    finally:
        await conn.close()
    return True


def ensure_postgis(url: URL) -> None:
    """PostGIS works in the database, installed from Debian's packages when it must be."""
    if asyncio.run(enable_postgis(url)):
        return
    install_postgis(url, f"postgresql-{asyncio.run(_server_major(url))}-postgis-3")
    if not asyncio.run(enable_postgis(url)):
        raise BootstrapError("PostGIS was installed but cannot be enabled; see the server log.")


def _redis_reachable(redis_url: str) -> bool:
    try:
        return bool(Redis.from_url(redis_url, socket_connect_timeout=1).ping())
    except (RedisError, OSError):
        return False


def ensure_redis(redis_url: str) -> None:
    """Redis answers; started here (without persistence) when it is local and stopped."""
    if _redis_reachable(redis_url):
        return
    host = make_url(redis_url.replace("redis://", "postgresql://", 1)).host
    if host not in LOCAL_HOSTS or not shutil.which("redis-server"):
        raise BootstrapError("Redis is not reachable; start it or set FLEETBED_REDIS_URL.")
    _say("starting redis-server")
    Path("/var/log/redis").mkdir(parents=True, exist_ok=True)
    Path("/var/lib/redis").mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [  # noqa: S607
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
            "--logfile",
            "/var/log/redis/fleetbed.log",
        ],
        check=False,
        capture_output=True,
    )
    for _ in range(20):
        if _redis_reachable(redis_url):
            return
        time.sleep(0.25)
    raise BootstrapError("Redis did not come up; see /var/log/redis/fleetbed.log.")


MQTT_LOCAL = ("127.0.0.1", 1883)


def _mqtt_reachable() -> bool:
    try:
        with socket.create_connection(MQTT_LOCAL, timeout=1):
            return True
    except OSError:
        return False


def ensure_local_mqtt() -> None:
    """Start a local Mosquitto broker for the MQTT command transport when one is installed
    and none listens; without it, commands still go over HTTP, so nothing fails here."""
    mosquitto = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
    if mosquitto is None or _mqtt_reachable():
        return
    _say("starting mosquitto")
    config = Path("/etc/mosquitto/mosquitto.conf")
    options = ["-c", str(config)] if config.exists() else ["-p", str(MQTT_LOCAL[1])]
    subprocess.run([mosquitto, "-d", *options], check=False, capture_output=True)  # noqa: S603
    for _ in range(20):
        if _mqtt_reachable():
            return
        time.sleep(0.25)
    _say("mosquitto did not come up; vehicle commands go over HTTP only")


def bootstrap(settings: Settings) -> int:
    """Prepare services and schema for `settings`; 0 on success, 1 with a sentence otherwise."""
    url = make_url(settings.database_url)
    try:
        asyncio.run(ensure_postgres(url))
        asyncio.run(ensure_database(url))
        ensure_postgis(url)
        ensure_redis(settings.redis_url)
        ensure_local_mqtt()
        upgrade(settings.database_url)
    except BootstrapError as exc:
        print(f"bootstrap: {exc}", file=sys.stderr)
        return 1
    _say(f"ready: {url.render_as_string(hide_password=True)} and {settings.redis_url}")
    return 0
