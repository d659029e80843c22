"""Load-generator processes: pre-built telemetry bodies posted for a fixed duration."""

import asyncio
import multiprocessing as mp
import queue
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from types import TracebackType
from typing import Self

import uvloop

from app.core.mstime import now_ms
from bench.httpclient import Connection, ProtocolError, request_head
from bench.workload import Fleet, telemetry_bodies

TELEMETRY_PATH = "/mds/agency/telemetry"
MDS_ACCEPT = "application/vnd.mds+json;version=2.0"
# A request still unanswered after this long counts as failed.
REQUEST_TIMEOUT_S = 120.0
# Headroom for building bodies and for the last answers after the deadline.
READY_TIMEOUT_S = 300.0
SETTLE_S = REQUEST_TIMEOUT_S + 30.0


class LoadError(Exception):
    """The load processes failed or did not answer."""


@dataclass(frozen=True)
class WorkerSpec:
    """What one load process sends: its own devices, so per-device time only moves forward."""

    index: int
    fleet: Fleet
    device_ids: list[str]
    batches: int
    batch_size: int
    seed: int


@dataclass(frozen=True)
class PhaseOrder:
    """Where to send and when: every process starts at the same monotonic instant."""

    host: str
    port: int
    key: str
    start_at: float
    duration_s: float
    concurrency: int


@dataclass(frozen=True)
class Ready:
    """A worker has built its bodies."""

    index: int
    bodies: int
    build_s: float


@dataclass
class WorkerReport:
    """What one process saw during a phase."""

    index: int
    accepted_points: int = 0
    ok_requests: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    error_sample: str = ""
    latencies_s: list[float] = field(default_factory=list)
    last_done: float = 0.0
    cpu_s: float = 0.0
    exhausted: bool = False

    def fail(self, kind: str, detail: str) -> None:
        """Count a failed request, keeping the first one's detail."""
        self.errors[kind] += 1
        self.error_sample = self.error_sample or f"{kind}: {detail[:300]}"


def _headers(key: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {key}",
        "Accept": MDS_ACCEPT,
        "Content-Type": "application/json",
    }


async def _lane(
    conn: Connection,
    jobs: Iterator[tuple[bytes, bytes]],
    deadline: float,
    points: int,
    report: WorkerReport,
) -> None:
    """Send one request at a time until the deadline or the bodies run out."""
    while time.monotonic() < deadline:
        job = next(jobs, None)
        if job is None:
            report.exhausted = True
            return
        began = time.perf_counter()
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                response = await conn.send(*job)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ProtocolError) as exc:
            # The server is gone or broken: stop this lane rather than spin on it.
            report.fail(type(exc).__name__, str(exc))
            return
        report.latencies_s.append(time.perf_counter() - began)
        report.last_done = time.monotonic()
        if response.status == 201:
            report.accepted_points += points
            report.ok_requests += 1
        else:
            report.fail(f"HTTP {response.status}", response.body.decode(errors="replace"))


async def _run_phase(
    index: int, order: PhaseOrder, bodies: list[bytes], points: int
) -> WorkerReport:
    headers = _headers(order.key)
    address = f"{order.host}:{order.port}"
    # Heads and connections are made before the clock starts.
    jobs = iter(
        [(request_head("POST", TELEMETRY_PATH, address, headers, len(b)), b) for b in bodies]
    )
    conns = [Connection(order.host, order.port) for _ in range(order.concurrency)]
    for conn in conns:
        await conn.connect()
    report = WorkerReport(index)
    await asyncio.sleep(max(0.0, order.start_at - time.monotonic()))
    cpu_before = time.process_time()
    deadline = order.start_at + order.duration_s
    await asyncio.gather(*(_lane(c, jobs, deadline, points, report) for c in conns))
    report.cpu_s = time.process_time() - cpu_before
    for conn in conns:
        await conn.close()
    return report


def worker_main(
    spec: WorkerSpec, orders: "mp.Queue[PhaseOrder | None]", out: "mp.Queue[object]"
) -> None:
    """Body of a load process: build the bodies, then run the phases it is ordered to."""
    began = time.perf_counter()
    bodies = telemetry_bodies(
        spec.fleet,
        spec.device_ids,
        batches=spec.batches,
        batch_size=spec.batch_size,
        now_ms=now_ms(),
        seed=spec.seed,
    )
    out.put(Ready(spec.index, len(bodies), time.perf_counter() - began))
    # One order per phase; None (or a bounded number of phases) ends the process.
    for _ in range(16):
        order = orders.get()
        if order is None:
            return
        out.put(uvloop.run(_run_phase(spec.index, order, bodies, spec.batch_size)))


class LoadGenerator:
    """A set of load processes, stopped on exit whatever happened."""

    def __init__(self, specs: list[WorkerSpec]) -> None:
        ctx = mp.get_context("spawn")
        self._out: mp.Queue[object] = ctx.Queue()
        self._orders: list[mp.Queue[PhaseOrder | None]] = [ctx.Queue() for _ in specs]
        self.processes: list[SpawnProcess] = [
            ctx.Process(target=worker_main, args=(spec, q, self._out), daemon=True)
            for spec, q in zip(specs, self._orders, strict=True)
        ]
        for process in self.processes:
            process.start()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _collect(self, count: int, timeout_s: float) -> list[object]:
        deadline = time.monotonic() + timeout_s
        got: list[object] = []
        while len(got) < count:
            if time.monotonic() > deadline:
                raise LoadError("the load processes did not answer in time")
            if not all(p.is_alive() for p in self.processes):
                raise LoadError("a load process died")
            try:
                got.append(self._out.get(timeout=0.5))
            except queue.Empty:
                continue
        return got

    def wait_ready(self) -> list[Ready]:
        """Block until every process has built its bodies."""
        return [
            r for r in self._collect(len(self.processes), READY_TIMEOUT_S) if isinstance(r, Ready)
        ]

    def start(self, host: str, port: int, key: str, duration_s: float, concurrency: int) -> float:
        """Order a phase; returns the monotonic instant at which it starts."""
        # Time for every process to open its connections before the clock starts.
        start_at = time.monotonic() + 0.5
        order = PhaseOrder(host, port, key, start_at, duration_s, concurrency)
        for orders in self._orders:
            orders.put(order)
        return start_at

    def reports(self, duration_s: float) -> list[WorkerReport]:
        """Every process's report of the phase ordered last."""
        got = self._collect(len(self.processes), duration_s + SETTLE_S)
        return [r for r in got if isinstance(r, WorkerReport)]

    def close(self) -> None:
        """Ask the processes to end, then make sure they have."""
        for orders in self._orders:
            orders.put(None)
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
