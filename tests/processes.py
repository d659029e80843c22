"""Real processes for end-to-end tests: the `fleetbed` command, free ports, a served API,
a throwaway Redis."""

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.config import TEST_DATABASE_URL, TEST_REDIS_URL

FLEETBED = str(Path(sys.executable).with_name("fleetbed"))


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(
    env: Mapping[str, str], log_path: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`fleetbed serve` on a free port, ready (`/readyz` 200); its base URL and process."""
    port = free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [FLEETBED, "serve", "--port", str(port)], env=dict(env), stdout=log, stderr=log
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail(f"server did not become ready:\n{log_path.read_text()}")
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=10)


# The environment of CLI and server processes run against the test services.
ENV = {
    **os.environ,
    "FLEETBED_DATABASE_URL": TEST_DATABASE_URL,
    "FLEETBED_REDIS_URL": TEST_REDIS_URL,
    "FLEETBED_AUTH__JWT_SECRET": "e2e-" + "s" * 40,
    # The test rebuilds the live state with the CLI; the server must not do it first.
    "FLEETBED_HOTSTATE__CATCHUP_INTERVAL_S": "0",
}


def fleetbed(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI against the test database."""
    return subprocess.run(
        [FLEETBED, *args], env=ENV, capture_output=True, text=True, timeout=60, check=False
    )


def create_key(provider_id: str, role: str = "gateway") -> tuple[str, str]:
    """Issue a key with the CLI; its id and the key."""
    result = fleetbed("admin", "create-key", "--provider", provider_id, "--role", role)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    key_id = result.stderr.split("key_id:")[1].split()[0]
    return key_id, key


class RedisProcess:
    """A throwaway redis-server that a test may stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        # Popen returns at once; only the wait below is asynchronous.
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: ASYNC220
        client = Redis.from_url(self.url)
        for _ in range(100):
            try:
                await client.ping()
                break
            except RedisError:
                await asyncio.sleep(0.05)
        await client.aclose()

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None
