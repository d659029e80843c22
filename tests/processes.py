"""Real processes for end-to-end tests: the `fleetbed` command, free ports, a served API."""

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

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
