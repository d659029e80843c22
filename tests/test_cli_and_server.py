"""The `fleetbed` command and a real server process, end to end."""

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis import Redis

from tests.config import MDS_ACCEPT, TEST_REDIS_URL
from tests.processes import ENV, create_key, fleetbed, serving
from tests.sql import fetchval


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`fleetbed serve` on a free port; yields its base URL and its log file."""
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    with serving(ENV, log_path) as (base, _process):
        yield base, log_path


@pytest.fixture
def provider() -> Iterator[str]:
    """A provider created with the CLI, deleted (with its keys and vehicles) afterwards."""
    result = fleetbed("admin", "create-provider", "--name", f"cli-{uuid.uuid4().hex[:8]}")
    assert result.returncode == 0, result.stderr
    provider_id = result.stdout.strip()
    uuid.UUID(provider_id)
    yield provider_id
    for table in ("telemetry", "events", "providers"):
        fetchval(f"DELETE FROM {table} WHERE provider_id = $1", uuid.UUID(provider_id))  # noqa: S608


def test_cli_key_registers_and_reads_back_only_its_fleet_via_a_real_server(
    server: tuple[str, Path], provider: str
) -> None:
    base, log_path = server
    key_id, key = create_key(provider)
    headers = {"Authorization": f"Bearer {key}", "Accept": MDS_ACCEPT}
    device = str(uuid.uuid4())
    record = {
        "device_id": device,
        "provider_id": provider,
        "vehicle_id": "E2E-1",
        "vehicle_type": "bicycle",
        "propulsion_types": ["human"],
    }
    created = httpx.post(f"{base}/mds/agency/vehicles", headers=headers, json=[record])
    assert created.status_code == 201, created.text
    listing = httpx.get(f"{base}/mds/agency/vehicles", headers=headers).json()
    assert [v["device_id"] for v in listing["vehicles"]] == [device]

    token = httpx.post(
        f"{base}/auth/token",
        data={"grant_type": "client_credentials", "client_id": key_id, "client_secret": key},
    ).json()["access_token"]
    by_token = httpx.get(
        f"{base}/mds/agency/vehicles/{device}",
        headers={"Authorization": f"Bearer {token}", "Accept": MDS_ACCEPT},
    )
    assert by_token.status_code == 200

    moment = int(time.time() * 1000) - 5000
    point = {
        "device_id": device,
        "provider_id": provider,
        "telemetry_id": str(uuid.uuid4()),
        "timestamp": moment,
        "trip_ids": None,
        "journey_id": None,
        "location": {"lat": 56.044, "lng": 12.696},
    }
    drop_off = {
        "device_id": device,
        "provider_id": provider,
        "event_id": str(uuid.uuid4()),
        "vehicle_state": "available",
        "event_types": ["provider_drop_off"],
        "timestamp": moment,
        "location": {"lat": 56.044, "lng": 12.696},
    }
    for path, item in (("telemetry", point), ("events", drop_off)):
        posted = httpx.post(f"{base}/mds/agency/{path}", headers=headers, json=[item])
        assert posted.status_code == 201, posted.text
    _, manager_key = create_key(provider, "operator_manager")
    manager = {"Authorization": f"Bearer {manager_key}"}
    live = httpx.get(f"{base}/v1/vehicles/{device}", headers=manager).json()["live"]
    assert (live["lat"], live["state"]) == (56.044, "available")

    # Redis loses the live state; the CLI rebuilds it from PostgreSQL.
    redis = Redis.from_url(TEST_REDIS_URL)
    redis.delete(*redis.keys(f"fb:{{{provider}}}:*"))
    assert httpx.get(f"{base}/v1/vehicles/{device}", headers=manager).json()["live"] is None
    rebuilt = fleetbed("hotstate", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt the live state" in rebuilt.stdout
    assert httpx.get(f"{base}/v1/vehicles/{device}", headers=manager).json()["live"] == live

    revoked = fleetbed("admin", "revoke-key", key_id)
    assert revoked.returncode == 0, revoked.stderr
    # The server trusts a looked-up key for key_cache_ttl_s (5 s by default).
    deadline = time.monotonic() + 15
    status = 200
    while time.monotonic() < deadline and status != 401:
        status = httpx.get(f"{base}/mds/agency/vehicles", headers=headers).status_code
        time.sleep(0.5)
    assert status == 401

    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "fleetbed.access"]
    assert access
    assert all(line.get("request_id") for line in access)
    assert any(line.get("key_id") == key_id for line in access)
    text = log_path.read_text()
    assert key not in text
    assert key.split(".")[1] not in text
    assert token not in text


def test_create_key_refuses_a_gateway_without_provider_and_unknown_providers() -> None:
    missing = fleetbed("admin", "create-key", "--role", "gateway")
    assert missing.returncode == 2
    assert "needs a provider" in missing.stderr
    unknown = fleetbed("admin", "create-key", "--role", "gateway", "--provider", str(uuid.uuid4()))
    assert unknown.returncode == 2
    assert "not found" in unknown.stderr


def test_city_auditor_key_takes_no_provider(provider: str) -> None:
    result = fleetbed("admin", "create-key", "--role", "city_auditor", "--provider", provider)
    assert result.returncode == 2
    assert "city-wide" in result.stderr


def test_revoking_an_unknown_key_fails_clearly() -> None:
    result = fleetbed("admin", "revoke-key", "0" * 16)
    assert result.returncode == 2
    assert "not found" in result.stderr


def test_duplicate_provider_name_fails_clearly(provider: str) -> None:
    name = fetchval("SELECT name FROM providers WHERE provider_id = $1", uuid.UUID(provider))
    again = fleetbed("admin", "create-provider", "--name", name)
    assert again.returncode == 2
    assert "exists already" in again.stderr


def test_openapi_check_passes_on_the_committed_file() -> None:
    assert fleetbed("openapi", "--check").returncode == 0
