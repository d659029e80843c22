"""Zones for the ingest benchmark: the geofence benchmark's mix, published with the CLI."""

import time
from pathlib import Path

import httpx
import orjson

from bench.geofence import make_zones
from bench.services import BenchError, fleetbed_cli
from geofencing.geometry import to_geojson

# Every kind of rule, so that the zone rules do all their work.
KINDS: list[dict[str, object]] = [
    {"kind": "slow", "max_speed_kph": 15},
    {"kind": "no_parking"},
    {"kind": "service_area"},
    {"kind": "no_ride"},
    {"kind": "parking", "parking": "preferred"},
    {"kind": "restricted", "vehicle_types": ["moped"]},
]


def load_zones(env: dict[str, str], count: int, workdir: Path) -> tuple[float, float]:
    """Publish `count` zones into the bench database; a point inside the first one."""
    shapes = make_zones(count, seed=7)
    features = [
        {
            "type": "Feature",
            "properties": {"name": f"bench zone {i}", **KINDS[i % len(KINDS)]},
            "geometry": to_geojson(shape),
        }
        for i, shape in enumerate(shapes)
    ]
    path = workdir / "zones.geojson"
    path.write_bytes(orjson.dumps({"type": "FeatureCollection", "features": features}))
    print(f"bench: {fleetbed_cli(env, 'zones', 'import', str(path))}", flush=True)
    x, y = shapes[0].representative_point().coords[0]
    return y, x


def wait_for_zones(base_url: str, key: str, inside: tuple[float, float]) -> None:
    """Until the server's zone index holds the zones (it loads them at start)."""
    headers = {"Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = httpx.get(
            f"{base_url}/v1/zones", params={"at": f"{inside[0]},{inside[1]}"}, headers=headers
        )
        if answer.status_code == 200 and answer.json():
            return
        time.sleep(0.2)
    raise BenchError("the server did not load the zones within 60 s")
