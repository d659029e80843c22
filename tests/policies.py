"""Builders of MDS policies for tests, and publishing one."""

import time
import uuid
from typing import Any

from httpx import AsyncClient

from tests.conftest import Tenant, auth

HOUR_MS = 3_600_000


def policy(geography: str, **fields: Any) -> dict[str, Any]:
    """A valid MDS policy (a fleet cap and a speed limit in `geography`), starting in an hour."""
    start = int(time.time() * 1000) + HOUR_MS
    document: dict[str, Any] = {
        "name": "Fleet cap",
        "description": "At most 300 available scooters per operator in the centre",
        "start_date": start,
        "rules": [
            {
                "name": "Cap",
                "rule_id": str(uuid.uuid4()),
                "rule_type": "count",
                "rule_units": "devices",
                "geographies": [geography],
                "states": {"available": []},
                "vehicle_types": ["scooter_standing"],
                "maximum": 300,
            },
            {
                "name": "Speed",
                "rule_id": str(uuid.uuid4()),
                "rule_type": "speed",
                "rule_units": "kph",
                "geographies": [geography],
                "states": {"on_trip": []},
                "maximum": 20,
            },
        ],
    }
    document.update(fields)
    return document


async def publish(client: AsyncClient, who: Tenant, document: dict[str, Any]) -> dict[str, Any]:
    """Publish a policy as `who`; the stored policy."""
    response = await client.post("/v1/policies", headers=auth(who), json=document)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
