"""The simulator's gateways against a recording HTTP peer that answers like fleetbed.

The peer (an `httpx.MockTransport`) stands in for the server a client under test talks
to; the run through the real server is in tests/test_simulator.py.
"""

import dataclasses
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from app.cli import main
from app.core.errors import InvalidInput
from demo.city import OPERATORS
from demo.keys_file import DemoKeys, OperatorKeys, write_keys_file
from demo.simulator.batches import Endpoint
from demo.simulator.command import credentials_from
from demo.simulator.gateway import Credentials
from demo.simulator.misbehaviour import Rates
from demo.simulator.runner import RunOptions, Scenario, Simulation
from tests.unit.city_maps import CMAP

END_MS = 1_778_580_000_000
SCENARIO = Scenario(CMAP)
CREDENTIALS = {op.key: Credentials(str(op.provider_id), f"key-{op.key}") for op in OPERATORS}


class Fleetbed:
    """Answers the MDS Agency requests as fleetbed would, and records them."""

    def __init__(
        self,
        registered: set[str] | None = None,
        latest_ms: int = 0,
        unlisted: set[str] | None = None,
    ) -> None:
        self.registered = set(registered or ()) | set(unlisted or ())
        # Registered after the simulator listed the registered vehicles (a seed alongside).
        self.unlisted = set(unlisted or ())
        self.latest_ms = latest_ms
        self.requests: list[tuple[str, str, bytes]] = []
        self.sent_at: list[tuple[float, bytes]] = []
        # Per path, statuses to answer before the normal one (a failing server).
        self.failures: dict[str, list[int]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path, request.content))
        self.sent_at.append((time.time(), request.content))
        path = request.url.path
        if request.method == "GET":
            return self._list(path)
        queued = self.failures.get(path)
        if queued:
            return httpx.Response(queued.pop(0), json={"error": "failed"})
        items: list[dict[str, Any]] = orjson.loads(request.content)
        if path.endswith("/vehicles"):
            taken = [v for v in items if v["device_id"] in self.registered]
            if taken:
                failures = [{"item": v, "error": "already_registered"} for v in taken]
                return httpx.Response(
                    409, json={"success": 0, "total": len(items), "failures": failures}
                )
            self.registered |= {v["device_id"] for v in items}
        return httpx.Response(
            201, json={"success": len(items), "total": len(items), "failures": []}
        )

    def _list(self, path: str) -> httpx.Response:
        if path.endswith("/status"):
            statuses = [{"last_event": {"timestamp": self.latest_ms}, "last_telemetry": None}]
            return httpx.Response(200, json={"vehicles_status": statuses, "links": {"next": None}})
        vehicles = [{"device_id": d} for d in sorted(self.registered - self.unlisted)]
        return httpx.Response(200, json={"vehicles": vehicles, "links": {"next": None}})

    def posted(self, path: str) -> list[dict[str, Any]]:
        """Every item posted to `path`."""
        return [
            item
            for method, p, body in self.requests
            if method == "POST" and p == path
            for item in orjson.loads(body)
        ]


async def simulate(peer: Fleetbed, **options: Any) -> Simulation:
    """A run as fast as possible over a fixed span against `peer`."""
    values: dict[str, Any] = {
        "speed": 0,
        "duration_s": 1800,
        "vehicles": 30,
        "end_ms": END_MS,
        "rates": Rates.uniform(0.1),
        "trips_per_day": 48,
        "steady": True,
    }
    values.update(options)
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(peer), base_url="http://fleetbed.test"
    ) as client:
        simulation = Simulation(RunOptions(**values), SCENARIO, CREDENTIALS, client)
        await simulation.run()
    return simulation


async def test_the_same_seed_sends_the_same_requests_another_seed_others() -> None:
    first, again, other = Fleetbed(), Fleetbed(), Fleetbed()
    await simulate(first, seed=5)
    await simulate(again, seed=5)
    await simulate(other, seed=6)
    assert len(first.requests) > 200
    assert first.requests[:200] == again.requests[:200]
    assert first.requests == again.requests
    posts = [r for r in first.requests if r[1] != "/mds/agency/vehicles"][:100]
    assert posts != [r for r in other.requests if r[1] != "/mds/agency/vehicles"][:100]


async def test_each_provider_posts_with_its_own_key_and_the_mds_media_type() -> None:
    seen: list[httpx.Request] = []
    peer = Fleetbed()

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return peer(request)

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(recording), base_url="http://t"
    ) as c:
        simulation = Simulation(
            RunOptions(speed=0, duration_s=600, vehicles=20, end_ms=END_MS),
            SCENARIO,
            CREDENTIALS,
            c,
        )
        await simulation.run()
    by_key = {c.gateway_key: c.provider_id for c in CREDENTIALS.values()}
    for request in seen:
        assert request.headers["accept"] == "application/vnd.mds+json;version=2.0"
        provider = by_key[request.headers["authorization"].removeprefix("Bearer ")]
        if request.method == "POST":
            assert {i["provider_id"] for i in orjson.loads(request.content)} == {provider}


async def test_only_vehicles_not_yet_registered_are_registered() -> None:
    peer = Fleetbed()
    await simulate(peer, duration_s=60, vehicles=20)
    everyone = {v["device_id"] for v in peer.posted("/mds/agency/vehicles")}
    assert len(everyone) == 20
    seeded = set(sorted(everyone)[:12])

    again = Fleetbed(registered=seeded)
    simulation = await simulate(again, duration_s=60, vehicles=20)
    assert {v["device_id"] for v in again.posted("/mds/agency/vehicles")} == everyone - seeded
    assert simulation.report.ok


async def test_vehicles_registered_meanwhile_are_fine_and_the_others_still_registered() -> None:
    peer = Fleetbed()
    await simulate(peer, duration_s=60, vehicles=20)
    everyone = {v["device_id"] for v in peer.posted("/mds/agency/vehicles")}

    racing = Fleetbed(unlisted=set(sorted(everyone)[:5]))
    simulation = await simulate(racing, duration_s=60, vehicles=20)
    assert racing.registered == everyone
    assert simulation.report.requests[("vehicles", 409)] >= 1
    assert simulation.report.ok


async def test_a_refused_batch_fails_the_run_and_is_reported() -> None:
    peer = Fleetbed()
    peer.failures["/mds/agency/events"] = [400]
    simulation = await simulate(peer)
    assert not simulation.report.ok
    assert simulation.report.unexpected == 1
    assert "UNEXPECTED answers: 1" in simulation.render()
    assert "/mds/agency/events" in simulation.render()


async def test_server_errors_are_retried_and_then_fine() -> None:
    peer = Fleetbed()
    peer.failures["/mds/agency/telemetry"] = [503, 502]
    simulation = await simulate(peer, duration_s=120)
    assert simulation.report.ok
    assert simulation.report.requests[("telemetry", 503)] == 0  # only the last answer counts


async def test_duplicated_batches_are_the_same_request_twice() -> None:
    peer = Fleetbed()
    simulation = await simulate(
        peer, rates=dataclasses.replace(Rates.uniform(0), duplicate_batch=1.0)
    )
    telemetry = [body for _, path, body in peer.requests if path == "/mds/agency/telemetry"]
    assert telemetry
    assert telemetry[0::2] == telemetry[1::2]
    assert simulation.report.notes["duplicate"] == len(telemetry) // 2


async def test_the_status_file_holds_the_live_counters(tmp_path: Path) -> None:
    status_file = tmp_path / "status.json"
    simulation = await simulate(Fleetbed(), status_file=status_file)
    status = orjson.loads(status_file.read_bytes())
    assert status["points_sent"] == simulation.report.sent(Endpoint.TELEMETRY)
    assert status["statuses"]["201"] == sum(simulation.report.requests.values())
    assert sum(status["vehicles_by_state"].values()) == 30
    assert status["trips_started"] >= status["trips_ended"] > 0
    tally = simulation.world.tally()
    assert status["misbehaviour"]
    for kind, count in status["misbehaviour"].items():
        assert tally.get(f"misbehaviour:{kind}", tally.get(kind)) == count


async def test_a_paced_run_never_sends_the_future_and_resumes_after_the_servers_data() -> None:
    now = int(time.time() * 1000)
    peer = Fleetbed(latest_ms=now - 60_000)
    async with httpx.AsyncClient(transport=httpx.MockTransport(peer), base_url="http://t") as c:
        options = RunOptions(speed=600, duration_s=600, vehicles=20, trips_per_day=200, steady=True)
        simulation = Simulation(options, SCENARIO, CREDENTIALS, c)
        await simulation.run()
    stamps = 0
    for sent, body in peer.sent_at:
        for item in orjson.loads(body) if body else []:
            ts = item.get("timestamp") or item.get("end_time")
            if ts is None:
                continue
            stamps += 1
            assert ts <= sent * 1000 + 1
            assert ts >= now - 60_000  # after what the server already had
    assert stamps > 20


def keys_file(tmp_path: Path, with_gateway: bool = True) -> Path:
    path = tmp_path / "keys.json"
    op = OPERATORS[0]
    keys = DemoKeys(
        providers={
            op.key: OperatorKeys(
                provider_id=op.provider_id,
                name=op.name,
                mode=op.mode,
                gateway_key="secret-gateway-key" if with_gateway else None,
            )
        }
    )
    write_keys_file(path, keys)
    return path


def test_credentials_come_from_the_keys_file_and_never_show(tmp_path: Path) -> None:
    found = credentials_from(keys_file(tmp_path))
    assert found == {
        OPERATORS[0].key: Credentials(str(OPERATORS[0].provider_id), "secret-gateway-key")
    }
    assert "secret" not in repr(found)
    with pytest.raises(InvalidInput, match="fleetbed demo seed"):
        credentials_from(tmp_path / "missing.json")
    with pytest.raises(InvalidInput, match="no gateway keys"):
        credentials_from(keys_file(tmp_path / "bare", with_gateway=False))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--geodata", "/nonexistent/outline.geojson"], "no geodata at /nonexistent"),
        (["--speed", "0"], "needs a duration"),
        (["--misbehaviour", "jaywalking=1"], "bad misbehaviour rate"),
    ],
)
def test_the_command_refuses_what_it_cannot_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    keys = keys_file(tmp_path)
    code = main(["simulate", "--keys", str(keys), "--base-url", "http://127.0.0.1:9", *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "secret" not in err


def test_the_command_needs_a_keys_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--keys", str(tmp_path / "none.json")]) == 2
    assert "fleetbed demo seed" in capsys.readouterr().err


def test_the_command_fails_clearly_without_a_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "simulate",
            "--keys",
            str(keys_file(tmp_path)),
            "--base-url",
            "http://127.0.0.1:9",
            "--speed",
            "0",
            "--duration",
            "60",
            "--vehicles",
            "2",
        ]
    )
    assert code == 1
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err
