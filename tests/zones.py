"""Builders of zones for tests: rings, discs, /v1/zones bodies, publishing one."""

import math
from typing import Any

from httpx import AsyncClient

from tests.conftest import Tenant, auth
from tests.payloads import HELSINGBORG

CENTRE = HELSINGBORG  # Helsingborg C


def ring(lat: float, lng: float, radius_m: float, n: int = 24) -> list[list[float]]:
    """A closed ring of `n` points around a centre, as [lng, lat]."""
    dlat = radius_m / 111_320
    dlng = radius_m / (111_320 * math.cos(math.radians(lat)))
    points = [
        [
            round(lng + dlng * math.cos(2 * math.pi * i / n), 7),
            round(lat + dlat * math.sin(2 * math.pi * i / n), 7),
        ]
        for i in range(n)
    ]
    return [*points, points[0]]


def disc(
    radius_m: float = 300, hole_m: float | None = None, centre: tuple[float, float] = CENTRE
) -> dict[str, Any]:
    """A round GeoJSON Polygon around `centre`, with a round hole if `hole_m` is given."""
    rings = [ring(*centre, radius_m)]
    if hole_m:
        rings.append(list(reversed(ring(*centre, hole_m))))
    return {"type": "Polygon", "coordinates": rings}


def zone(**fields: Any) -> dict[str, Any]:
    """A valid /v1/zones body (a slow zone round the centre); keyword arguments override."""
    body: dict[str, Any] = {
        "name": "Centre slow zone",
        "kind": "slow",
        "max_speed_kph": 10,
        "geometry": disc(),
    }
    body.update(fields)
    return body


async def publish(client: AsyncClient, who: Tenant, **fields: Any) -> dict[str, Any]:
    """Publish `zone(**fields)` as `who`; the created zone."""
    response = await client.post("/v1/zones", headers=auth(who), json=zone(**fields))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
