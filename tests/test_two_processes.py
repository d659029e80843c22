"""Two real `fleetbed serve` processes through outages: B follows a zone A published while
B's database was cut for longer than the resync interval, and B's live state comes back by
itself (and raises alerts again) after its Redis server was killed and restarted."""

import asyncio
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from app.core.auth import Role
from tests.config import MDS_ACCEPT, TEST_DATABASE_URL
from tests.faults import committed_tenants, eventually, proxy
from tests.payloads import event, now_ms, point, vehicle
from tests.processes import FLEETBED, RedisProcess, free_port
from tests.zones import CENTRE, disc


def _read(path: Path) -> str:
    return path.read_text()


@asynccontextmanager
async def fleetbed_serve(
    database_url: str, redis_url: str, log_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """A `fleetbed serve` process with short background intervals, ready; a client to it."""
    port = free_port()
    env = {
        **os.environ,
        "FLEETBED_DATABASE_URL": database_url,
        "FLEETBED_REDIS_URL": redis_url,
        "FLEETBED_AUTH__JWT_SECRET": "faults-" + "s" * 40,
        "FLEETBED_AUTH__KEY_CACHE_TTL_S": "0",
        "FLEETBED_GEOFENCE__RESYNC_INTERVAL_S": "1",
        "FLEETBED_HOTSTATE__CATCHUP_INTERVAL_S": "0.5",
        "FLEETBED_BACKGROUND__MAX_BACKOFF_S": "1",
        "FLEETBED_BACKGROUND__MIN_STALE_AFTER_S": "3",
    }
    with log_path.open("w") as log:
        # Popen returns at once; the waits below are asynchronous.
        process = subprocess.Popen(  # noqa: ASYNC220
            [FLEETBED, "serve", "--port", str(port)], env=env, stdout=log, stderr=log
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:

            async def ready() -> bool:
                try:
                    return (await http.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            try:
                await eventually(ready, what="the server's readiness")
            except AssertionError:
                raise AssertionError(await asyncio.to_thread(_read, log_path)) from None
            yield http
    finally:
        process.terminate()
        # Waited in a thread: B's database proxy runs on this event loop.
        code = await asyncio.to_thread(process.wait, 20)
    # Shutdown after outages exits cleanly (uvicorn reports a failing lifespan as an error).
    output = await asyncio.to_thread(_read, log_path)
    # uvicorn ends by re-raising the SIGTERM it handled, once the lifespan has finished.
    assert code in (0, -15), output
    assert "Application shutdown complete" in output, output
    assert "Traceback" not in output, output


async def failing(http: httpx.AsyncClient) -> list[str]:
    body: dict[str, Any] = (await http.get("/readyz")).json()
    names: list[str] = body["failing"]
    return names


async def test_second_process_follows_zones_and_rebuilds_live_state_after_outages(
    tmp_path: Path,
) -> None:
    redis = RedisProcess()
    await redis.start()
    try:
        async with (
            proxy() as pg,
            committed_tenants(Role.GATEWAY, Role.OPERATOR_MANAGER) as (gateway, manager),
            fleetbed_serve(TEST_DATABASE_URL, redis.url, tmp_path / "a.log") as a,
            fleetbed_serve(pg.database_url, redis.url, tmp_path / "b.log") as b,
        ):
            manager_auth = {"Authorization": f"Bearer {manager.key}"}
            await pg.stop()

            async def b_reports_stuck_zone_sync() -> bool:
                return {"postgresql", "task:zone-sync"} <= set(await failing(b))

            # The outage outlasts B's resync interval (and its staleness allowance).
            await eventually(b_reports_stuck_zone_sync, what="B naming its stuck zone sync")
            created = await a.post(
                "/v1/zones",
                headers=manager_auth,
                json={"name": "Harbour no parking", "kind": "no_parking", "geometry": disc()},
            )
            assert created.status_code == 201, created.text
            zone_id = created.json()["zone_id"]
            await pg.start()

            async def b_indexed_the_zone() -> bool:
                check = await b.post(
                    "/v1/geofence/check",
                    headers=manager_auth,
                    json={"points": [{"lat": CENTRE[0], "lng": CENTRE[1]}]},
                )
                return check.status_code == 200 and zone_id in {
                    z["zone_id"] for z in check.json()["results"][0]
                }

            await eventually(b_indexed_the_zone, what="B indexing the zone A published")

            record = vehicle(gateway)
            headers = gateway.headers
            registered = await b.post("/mds/agency/vehicles", headers=headers, json=[record])
            assert registered.status_code == 201, registered.text
            redis.stop()
            sent = point(
                gateway,
                record["device_id"],
                timestamp=now_ms() - 5_000,
                location={"lat": CENTRE[0], "lng": CENTRE[1]},
            )
            # Redis is gone: history is the record, so the point is still acknowledged.
            ingest = await b.post("/mds/agency/telemetry", headers=headers, json=[sent])
            assert ingest.status_code == 201, ingest.text
            await redis.start()

            async def b_shows_the_vehicle() -> bool:
                live = await b.get(
                    "/v1/vehicles",
                    headers={**manager_auth, "Accept": MDS_ACCEPT},
                    params={"near": f"{CENTRE[0]},{CENTRE[1]}", "radius_m": 200},
                )
                return live.status_code == 200 and record["device_id"] in {
                    v["device_id"] for v in live.json()["vehicles"]
                }

            await eventually(b_shows_the_vehicle, what="B's live state rebuilt")

            # Alerts work again on B with Redis back: parking in the zone A published.
            trip = [str(uuid.uuid4())]
            parked = event(
                gateway,
                record["device_id"],
                timestamp=now_ms(),
                vehicle_state="available",
                event_types=["trip_end"],
                trip_ids=trip,
                location={"lat": CENTRE[0], "lng": CENTRE[1]},
            )
            ended = await b.post("/mds/agency/events", headers=headers, json=[parked])
            assert ended.status_code == 201, ended.text

            async def b_raised_the_alert() -> bool:
                alerts = await b.get("/v1/alerts", headers=manager_auth)
                return alerts.status_code == 200 and any(
                    a["kind"] == "parked_in_no_parking_zone" and a["zone_id"] == zone_id
                    for a in alerts.json()
                )

            await eventually(b_raised_the_alert, what="B's parking alert")

            async def both_ready() -> bool:
                return not await failing(a) and not await failing(b)

            await eventually(both_ready, what="both processes ready again")
    finally:
        redis.stop()
