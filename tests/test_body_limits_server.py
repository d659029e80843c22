"""A real `fleetbed serve` refuses 100 MB bodies unread: memory stays flat, health answers."""

import select
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.config import MDS_ACCEPT
from tests.processes import ENV, create_key, fleetbed, serving
from tests.sql import fetchval

HUNDRED_MB = 100 * 1024 * 1024
# A bound that a server buffering a single one of these bodies would break.
RSS_GROWTH_LIMIT = 50 * 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """`fleetbed serve` on a free port; yields its port and process id."""
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    with serving(ENV, log_path) as (base, process):
        yield int(base.rsplit(":", 1)[1]), process.pid


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _post_huge(port: int, *, chunked: bool) -> int:
    """POST 100 MB of JSON-looking bytes; stop sending once the server answers; its status."""
    piece = b"[" + b"{}," * 21_845
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {HUNDRED_MB}"
    head = (
        f"POST /mds/agency/telemetry HTTP/1.1\r\nHost: fleetbed\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head.encode())
        sent = 0
        while sent < HUNDRED_MB and not select.select([sock], [], [], 0)[0]:
            data = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
            try:
                sock.sendall(data)
            except OSError:
                break
            sent += len(piece)
        if sent >= HUNDRED_MB and chunked:
            # Sent it all unanswered (a server that buffers): end the body as framed.
            sock.sendall(b"0\r\n\r\n")
        response = b""
        while b"\r\n" not in response:
            received = sock.recv(65536)
            if not received:
                break
            response += received
    return int(response.split(b" ", 2)[1])


def test_hundred_megabyte_bodies_get_413_with_flat_memory_and_health_answering(
    server: tuple[int, int],
) -> None:
    port, pid = server
    health = f"http://127.0.0.1:{port}/healthz"
    before = _rss_bytes(pid)
    answers: list[int] = []
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=30) as http:
            while not done.is_set():
                answers.append(http.get(health).status_code)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        statuses = [_post_huge(port, chunked=chunked) for chunked in (False, True) * 3]
    finally:
        done.set()
        prober.join()
    after = _rss_bytes(pid)

    assert statuses == [413] * 6
    assert after - before < RSS_GROWTH_LIMIT, (before, after)
    assert answers
    assert set(answers) == {200}
    assert httpx.get(health).status_code == 200


def test_ten_megabytes_of_empty_events_are_refused_by_count_leaving_memory_flat(
    server: tuple[int, int],
) -> None:
    port, pid = server
    created = fleetbed("admin", "create-provider", "--name", f"limits-{uuid.uuid4().hex[:8]}")
    assert created.returncode == 0, created.stderr
    provider_id = created.stdout.strip()
    try:
        _, key = create_key(provider_id)
        headers = {
            "Authorization": f"Bearer {key}",
            "Accept": MDS_ACCEPT,
            "Content-Type": "application/json",
        }
        body = b"[" + b",".join([b"{}"] * 3_500_000) + b"]"
        url = f"http://127.0.0.1:{port}/mds/agency/events"
        before = _rss_bytes(pid)
        with httpx.Client(timeout=60) as http:
            responses = [http.post(url, headers=headers, content=body) for _ in range(3)]
            health = http.get(f"http://127.0.0.1:{port}/healthz")
        after = _rss_bytes(pid)
    finally:
        fetchval("DELETE FROM providers WHERE provider_id = $1", uuid.UUID(provider_id))
    assert [r.status_code for r in responses] == [413] * 3
    assert "3500000 items sent; at most 5000" in responses[0].json()["error_description"]
    assert after - before < RSS_GROWTH_LIMIT, (before, after)
    assert health.status_code == 200
