"""Tenant isolation over every route of the OpenAPI document.

Operator A owns a vehicle with telemetry, events, a trip and alerts, a zone of its own and
keys. Operator B's gateway and manager keys call every route, aimed at A's objects where a
route takes an id: each answer must refuse (403/404) or leave A out, and no answer may
name one of A's ids that B did not send itself. The routes come from the generated
document, so a new route fails `test_the_matrix_knows_every_route` until it is added.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response

from app.core.auth import Mode, Role
from fleet.gbfs.publisher import FILES as GBFS_FILES
from tests.conftest import Tenant, TenantFactory
from tests.payloads import event, metrics_query, now_ms, point, trip, vehicle
from tests.policies import policy
from tests.routes import documented_routes
from tests.zones import CENTRE, disc, zone

INSIDE = {"lat": CENTRE[0], "lng": CENTRE[1]}
FAR = {"lat": 56.30, "lng": 12.90}
HOUR_MS = 3_600_000
# Path parameters that name one of A's objects: B must get 403 or 404.
OWNED_PATH_IDS = (
    "device_id",
    "zone_id",
    "geography_id",
    "trip_id",
    "task_id",
    "command_id",
    "plan_id",
    "request_id",
    "vehicle_id",
)


@dataclass(frozen=True)
class Owned:
    """A's objects, and the city's that every tenant may see."""

    provider_id: str
    device_id: str
    zone_id: str
    # A closed trip of A's.
    trip_id: str
    # An open task of A's.
    task_id: str
    # A command of A's, still pending.
    command_id: str
    # A rebalancing plan of A's, ready.
    plan_id: str
    # A ride booked with A's pod operator (a provider of A's in the passenger-services mode).
    request_id: str
    # A's public GBFS system, and its vehicle's public id there.
    system_id: str
    public_vehicle_id: str
    key_ids: tuple[str, ...]
    # Ids of A's vehicle, trips, events, telemetry points and alerts.
    records: tuple[str, ...]
    policy_id: str
    city_zone_id: str

    def ids(self) -> set[str]:
        """Every identifier of A's."""
        return {self.provider_id, self.device_id, self.zone_id, *self.key_ids, *self.records}


@dataclass(frozen=True)
class Call:
    """One request of B's: query, JSON or form body; `denied` when it must be refused."""

    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    form: dict[str, str] | None = None
    denied: bool = False
    # For answers whose identifiers are pseudonymised: B, who has no data, must get none.
    empty: Callable[[Response], bool] | None = None


Calls = Callable[[Owned, Tenant], list[Call]]


def _hour(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H")


def _minute(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:00")


def _hours(name: str) -> Calls:
    def calls(a: Owned, b: Tenant) -> list[Call]:
        now = datetime.now(UTC)
        hours = [_hour(now - timedelta(hours=h)) for h in (0, 1, 2)]
        return [Call({name: h}) for h in hours] + [
            Call({name: h, "provider_id": a.provider_id}) for h in hours
        ]

    return calls


def _lists(a: Owned, b: Tenant) -> list[Call]:
    return [Call(), Call({"provider_id": a.provider_id}), Call({"limit": 1})]


def _no_features(response: Response) -> bool:
    return response.status_code != 200 or response.json()["features"] == []


def _export(a: Owned, b: Tenant) -> list[Call]:
    window = {
        "from": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        "to": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "format": "geojson",
    }
    return [
        Call(window, empty=_no_features),
        Call({**window, "provider_id": a.provider_id}, empty=_no_features),
        Call({**window, "privacy": "raw"}, empty=_no_features),
    ]


def _none(a: Owned, b: Tenant) -> list[Call]:
    return [Call()]


MATRIX: dict[str, Calls] = {
    "GET /healthz": _none,
    "GET /readyz": _none,
    "GET /metrics": _none,
    "POST /auth/token": lambda a, b: [
        Call(
            form={"grant_type": "client_credentials", "client_id": k, "client_secret": b.key},
            denied=True,
        )
        for k in a.key_ids
    ],
    # Registering A's device_id is left out: device ids are being scoped to the provider.
    "POST /mds/agency/vehicles": lambda a, b: [Call(json=[vehicle(b)])],
    "PUT /mds/agency/vehicles": lambda a, b: [
        Call(json=[vehicle(b, device_id=a.device_id)], denied=True)
    ],
    "GET /mds/agency/vehicles": _lists,
    "GET /mds/agency/vehicles/status": _lists,
    "GET /mds/agency/vehicles/status/{device_id}": _none,
    "GET /mds/agency/vehicles/{device_id}": _none,
    "POST /mds/agency/telemetry": lambda a, b: [Call(json=[point(b, a.device_id)], denied=True)],
    "POST /mds/agency/events": lambda a, b: [Call(json=[event(b, a.device_id)], denied=True)],
    "POST /mds/agency/trips": lambda a, b: [Call(json=[trip(b, a.device_id)], denied=True)],
    "GET /mds/geographies": _none,
    "GET /mds/geographies/{geography_id}": _none,
    "GET /v1/vehicles": lambda a, b: [
        Call({"near": f"{CENTRE[0]},{CENTRE[1]}", "radius_m": 50_000}),
        Call({"bbox": "12.0,55.5,13.5,56.5"}),
        Call({"bbox": "12.0,55.5,13.5,56.5", "provider_id": a.provider_id}),
    ],
    "GET /v1/vehicles/{device_id}": _none,
    "GET /v1/supply": lambda a, b: [Call(), Call({"provider_id": a.provider_id})],
    "POST /v1/zones": lambda a, b: [Call(json=zone(name="B's zone", geometry=disc(200)))],
    "GET /v1/zones": lambda a, b: [
        Call(),
        Call({"include_retired": "true"}),
        Call({"at": f"{CENTRE[0]},{CENTRE[1]}"}),
    ],
    "PUT /v1/zones/{zone_id}": lambda a, b: [Call(json=zone(name="taken over"))],
    "DELETE /v1/zones/{zone_id}": _none,
    "GET /v1/zones/{zone_id}": _none,
    "POST /v1/geofence/check": lambda a, b: [Call(json={"points": [INSIDE, FAR]})],
    "GET /v1/alerts": lambda a, b: [
        Call(),
        Call({"provider_id": a.provider_id}),
        Call({"device_id": a.device_id}),
    ],
    "POST /v1/policies": lambda a, b: [Call(json=policy(a.city_zone_id), denied=True)],
    "GET /v1/trips": lambda a, b: [
        Call(),
        Call({"provider_id": a.provider_id}),
        Call({"device_id": a.device_id}),
        Call({"after": a.trip_id}),
    ],
    "GET /v1/trips/{trip_id}": _none,
    "GET /v1/compliance": lambda a, b: [
        Call({"policy_id": a.policy_id}),
        Call({"policy_id": a.policy_id, "provider_id": a.provider_id}),
    ],
    "GET /mds/provider/trips": _hours("end_time"),
    "GET /mds/provider/events/historical": _hours("event_time"),
    "GET /mds/provider/telemetry": _hours("telemetry_time"),
    "GET /mds/provider/events/recent": lambda a, b: [
        Call({"start_time": now_ms() - 3_600_000, "end_time": now_ms()}),
        Call(
            {
                "start_time": now_ms() - 3_600_000,
                "end_time": now_ms(),
                "provider_id": a.provider_id,
            }
        ),
    ],
    "GET /mds/provider/vehicles": _lists,
    "GET /mds/provider/vehicles/status": _lists,
    "GET /mds/provider/vehicles/status/{device_id}": _none,
    "GET /mds/provider/vehicles/{device_id}": _none,
    "GET /mds/provider/reports/{filename}": lambda a, b: [
        Call(),
        Call({"provider_id": a.provider_id}),
    ],
    "GET /mds/metrics": _none,
    "POST /mds/metrics": lambda a, b: [
        Call(json=metrics_query(start_date=_minute(datetime.now(UTC) - timedelta(hours=2)))),
        Call(
            json=metrics_query(
                start_date=_minute(datetime.now(UTC) - timedelta(hours=2)),
                filters=[{"name": "provider_id", "values": [a.provider_id]}],
            )
        ),
    ],
    "GET /v1/audit-log": _none,
    "GET /v1/exports/trips": _export,
    "GET /v1/exports/events": _export,
    "GET /v1/exports/vehicle-status": _export,
    "GET /mds/policies": _none,
    "GET /mds/policies/{policy_id}": _none,
    "GET /v1/task-rules": _none,
    "PUT /v1/task-rules": lambda a, b: [Call(json={"battery_below_percent": 50})],
    "GET /v1/tasks": lambda a, b: [
        Call(),
        Call({"since": "0"}),
        Call({"near": f"{CENTRE[0]},{CENTRE[1]}"}),
        Call({"device_id": a.device_id}),
        Call({"after": a.task_id}),
        Call({"plan_id": a.plan_id}),
    ],
    "POST /v1/tasks": lambda a, b: [
        Call(json={"kind": "inspect", "device_id": a.device_id, "place": INSIDE}, denied=True)
    ],
    "GET /v1/tasks/summary": _none,
    "GET /v1/tasks/{task_id}": _none,
    "PATCH /v1/tasks/{task_id}": lambda a, b: [Call(json={"priority": 50})],
    "POST /v1/tasks/{task_id}/claim": _none,
    "POST /v1/tasks/{task_id}/start": _none,
    "POST /v1/tasks/{task_id}/complete": _none,
    "POST /v1/tasks/{task_id}/release": _none,
    "POST /v1/tasks/{task_id}/assign": lambda a, b: [Call(json={"assignee": b.key_id})],
    "POST /v1/tasks/{task_id}/cancel": _none,
    "POST /v1/vehicles/{device_id}/commands": lambda a, b: [
        Call(json={"kind": "unlock"}),
        Call(json={"kind": "unlock", "command_id": "a-1"}),
    ],
    "GET /v1/vehicles/{device_id}/commands": _none,
    "GET /v1/commands/{command_id}": _none,
    "GET /v1/gateway/commands": lambda a, b: [Call(), Call({"reconnect": "true"})],
    "GET /v1/demand/forecast": lambda a, b: [
        Call(),
        Call({"provider_id": a.provider_id}, denied=True),
    ],
    "GET /v1/rebalancing/targets": lambda a, b: [
        Call(),
        Call({"provider_id": a.provider_id}, denied=True),
    ],
    "POST /v1/rebalancing/plans": lambda a, b: [Call(json=_plan_body())],
    "GET /v1/rebalancing/plans": lambda a, b: [Call(), Call({"state": "ready"})],
    "GET /v1/rebalancing/plans/{plan_id}": _none,
    "POST /v1/rebalancing/plans/{plan_id}/dispatch": _none,
    "POST /v1/dispatch/requests": lambda a, b: [Call(json=_ride_body())],
    "GET /v1/dispatch/requests": lambda a, b: [Call(), Call({"state": "assigned"})],
    "GET /v1/dispatch/requests/{request_id}": _none,
    "POST /v1/dispatch/requests/{request_id}/cancel": _none,
    "POST /v1/dispatch/requests/{request_id}/outcome": lambda a, b: [
        Call(json={"state": "no_show"})
    ],
    "GET /v1/dispatch/pods": _none,
    "GET /v1/dispatch/pods/{device_id}/schedule": _none,
    "GET /v1/dispatch/settings": _none,
    "PUT /v1/dispatch/settings": lambda a, b: [Call(json={"seats": 1})],
    # Public feeds: B may read A's, which must hold no id of A's records.
    "GET /gbfs/manifest.json": _none,
    **{f"GET /gbfs/{{system_id}}/{name}.json": _none for name in GBFS_FILES},
    "GET /v1/gbfs/system": _none,
    "PUT /v1/gbfs/system": lambda a, b: [Call(json={"opening_hours": "Mo-Fr 06:00-22:00"})],
    "GET /v1/gbfs/vehicles/{vehicle_id}": _none,
    "POST /v1/gateway/commands/{command_id}/ack": lambda a, b: [
        Call(json={"status": "done"}),
        Call(json={"status": "rejected"}),
    ],
}


def _plan_body() -> dict[str, Any]:
    """One van at the centre for a short shift."""
    shift_end = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    van = {"van_id": "v", "start": INSIDE, "capacity": 5, "shift_end": shift_end}
    return {"vans": [van], "vehicle_type": "scooter_standing", "time_limit_s": 0.2}


def _ride_body() -> dict[str, Any]:
    """One passenger from the centre to a kilometre north."""
    north = {"lat": CENTRE[0] + 0.009, "lng": CENTRE[1]}
    return {"kind": "ride", "pickup": INSIDE, "dropoff": north, "passengers": 1}


async def _pod_ride(client: AsyncClient, tenant: TenantFactory) -> tuple[str, list[str]]:
    """A pod operator's ride: its id, and the ids it made (pod, trip, request)."""
    gateway = await tenant(Role.GATEWAY, Mode.PASSENGER_SERVICES)
    manager = await tenant(Role.OPERATOR_MANAGER, provider_id=gateway.provider_id)
    pod = vehicle(gateway, vehicle_type="other")
    await _ok(client, gateway, "POST", "/mds/agency/vehicles", [pod])
    device = pod["device_id"]
    started = event(
        gateway, device, event_types=["service_start"], vehicle_state="available", location=INSIDE
    )
    await _ok(client, gateway, "POST", "/mds/agency/events", [started])
    here = point(gateway, device, location={**INSIDE, "speed": 0.0})
    await _ok(client, gateway, "POST", "/mds/agency/telemetry", [here])
    ride = await _ok(client, manager, "POST", "/v1/dispatch/requests", _ride_body())
    return ride["request_id"], [device, pod["vehicle_id"], ride["request_id"], ride["trip_id"]]


def test_the_matrix_knows_every_route(app: FastAPI) -> None:
    documented = documented_routes(app)
    missing = [f"add route {route} to the matrix" for route in documented if route not in MATRIX]
    assert not missing, "\n".join(missing)
    assert not MATRIX.keys() - set(documented), "routes in the matrix that are not in the API"


def path_of(route: str, a: Owned) -> str:
    """The route's path with A's ids (or the city's public objects) filled in."""
    last_month = (datetime.now(UTC).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    values = {
        "device_id": a.device_id,
        "zone_id": a.zone_id,
        "trip_id": a.trip_id,
        "task_id": a.task_id,
        "command_id": a.command_id,
        "plan_id": a.plan_id,
        "request_id": a.request_id,
        "system_id": a.system_id,
        "vehicle_id": a.public_vehicle_id,
        "geography_id": a.zone_id,
        "policy_id": a.policy_id,
        "filename": f"{last_month}.csv",
    }
    path = route.split(" ", 1)[1]
    for name in [part[1:-1] for part in path.split("/") if part.startswith("{")]:
        assert name in values, f"add path parameter {name} of {route} to the matrix"
        path = path.replace(f"{{{name}}}", values[name])
    return path


async def _ok(client: AsyncClient, who: Tenant, method: str, path: str, body: Any) -> Any:
    response = await client.request(method, path, headers=who.headers, json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def arrange(client: AsyncClient, tenant: TenantFactory) -> Owned:
    """A's fleet: a vehicle that speeds through A's own zone, ends a trip, leaves the city,
    and records of two hours ago."""
    planner = await tenant(Role.CITY_PLANNER)
    city = await _ok(
        client,
        planner,
        "POST",
        "/v1/zones",
        zone(name="City", kind="service_area", max_speed_kph=None, geometry=disc(5000)),
    )
    published = await _ok(client, planner, "POST", "/v1/policies", policy(city["zone_id"]))
    gateway = await tenant()
    manager = await tenant(Role.OPERATOR_MANAGER, provider_id=gateway.provider_id)
    own_zone = await _ok(client, manager, "POST", "/v1/zones", zone(name="A's slow zone"))
    registered = vehicle(gateway)
    await _ok(client, gateway, "POST", "/mds/agency/vehicles", [registered])
    device = registered["device_id"]
    trip_id = str(uuid.uuid4())
    t = now_ms() + 2_000  # after the zones took effect
    riding = [
        point(
            gateway,
            device,
            timestamp=t + 1000 * s,
            trip_ids=[trip_id],
            location={**INSIDE, "speed": 6.0},
        )
        for s in range(1, 4)
    ]
    await _ok(client, gateway, "POST", "/mds/agency/telemetry", riding)
    ended = event(
        gateway,
        device,
        timestamp=t + 5000,
        event_types=["trip_end"],
        trip_ids=[trip_id],
        location=INSIDE,
    )
    await _ok(client, gateway, "POST", "/mds/agency/events", [ended])
    far = point(gateway, device, timestamp=t + 9000, location=FAR)
    await _ok(client, gateway, "POST", "/mds/agency/telemetry", [far])
    # Records of an hour that is over, so the hourly Provider feeds serve them.
    past = now_ms() - 2 * HOUR_MS
    old_point = point(gateway, device, timestamp=past, location=INSIDE)
    old_event = event(gateway, device, timestamp=past)
    trips = [
        trip(gateway, device),
        trip(gateway, device, start_time=past - 600_000, end_time=past, duration=600),
    ]
    await _ok(client, gateway, "POST", "/mds/agency/telemetry", [old_point])
    await _ok(client, gateway, "POST", "/mds/agency/events", [old_event])
    await _ok(client, gateway, "POST", "/mds/agency/trips", trips)
    task = await _ok(
        client,
        manager,
        "POST",
        "/v1/tasks",
        {"kind": "inspect", "device_id": device, "place": INSIDE},
    )
    alerts = await _ok(client, manager, "GET", "/v1/alerts", None)
    assert alerts, "A's vehicle raised no alert: the matrix would not test alerts"
    command = await _ok(
        client,
        manager,
        "POST",
        f"/v1/vehicles/{device}/commands",
        {"kind": "lock", "command_id": "a-1"},
    )
    plan = await _ok(client, manager, "POST", "/v1/rebalancing/plans", _plan_body())
    request_id, ride_ids = await _pod_ride(client, tenant)
    hour = {"telemetry_time": _hour(datetime.fromtimestamp(past / 1000, UTC))}
    served = await client.get("/mds/provider/telemetry", params=hour, headers=manager.headers)
    assert old_point["telemetry_id"] in served.text, "the hour's feed would not test telemetry"
    system_id = (await _ok(client, manager, "GET", "/v1/gbfs/system", None))["system_id"]
    status = await _ok(client, manager, "GET", f"/gbfs/{system_id}/vehicle_status.json", None)
    listed = status["data"]["vehicles"]
    assert listed, "A's vehicle is not in its GBFS feed: the matrix would not test public ids"
    return Owned(
        provider_id=str(gateway.provider_id),
        device_id=device,
        zone_id=own_zone["zone_id"],
        trip_id=trips[0]["trip_id"],
        task_id=task["task_id"],
        command_id=command["command_id"],
        plan_id=plan["plan_id"],
        request_id=request_id,
        system_id=system_id,
        public_vehicle_id=listed[0]["vehicle_id"],
        key_ids=(gateway.key_id, manager.key_id),
        records=(
            registered["vehicle_id"],
            trip_id,
            *(t["trip_id"] for t in trips),
            ended["event_id"],
            old_event["event_id"],
            far["telemetry_id"],
            old_point["telemetry_id"],
            *(a["alert_id"] for a in alerts),
            task["task_id"],
            command["command_id"],
            plan["plan_id"],
            *ride_ids,
        ),
        policy_id=published["policy_id"],
        city_zone_id=city["zone_id"],
    )


def sent_text(path: str, call: Call) -> str:
    """Everything B put into the request: ids found there may come back."""
    return f"{path} {call.params} {call.json} {call.form}"


def problems(route: str, path: str, call: Call, response: Response, a: Owned) -> list[str]:
    """What is wrong with B's answer to one call."""
    found = []
    if response.status_code >= 500:
        found.append(f"answered {response.status_code}")
    owned_path = any(f"{{{name}}}" in route for name in OWNED_PATH_IDS)
    if (call.denied or owned_path) and response.status_code not in (401, 403, 404):
        found.append(f"answered {response.status_code} where 401/403/404 was due")
    sent = sent_text(path, call)
    leaked = sorted(i for i in a.ids() if i in response.text and i not in sent)
    if leaked:
        found.append(f"names A's {leaked}")
    if call.empty is not None and not call.empty(response):
        found.append("returns rows to a caller that has none")
    return [f"{route} {call.params or ''}: {p}: {response.text[:300]}" for p in found]


@pytest.mark.parametrize("role", [Role.GATEWAY, Role.OPERATOR_MANAGER])
async def test_another_operator_never_sees_or_changes_a_tenants_objects(
    app: FastAPI, client: AsyncClient, tenant: TenantFactory, role: Role
) -> None:
    a = await arrange(client, tenant)
    b = await tenant(role)
    found: list[str] = []
    for route in documented_routes(app):
        method = route.split(" ", 1)[0]
        path = path_of(route, a)
        for call in MATRIX[route](a, b):
            response = await client.request(
                method,
                path,
                params=call.params,
                json=call.json,
                data=call.form,
                headers=b.headers,
            )
            found += problems(route, path, call, response, a)
    assert not found, "\n".join(found)
    # And A's objects are still there, unchanged, for A.
    manager = await tenant(Role.OPERATOR_MANAGER, provider_id=uuid.UUID(a.provider_id))
    kept = await client.get(f"/v1/zones/{a.zone_id}", headers=manager.headers)
    assert kept.status_code == 200
    assert kept.json()["retired_at"] is None
    assert kept.json()["name"] == "A's slow zone"
    task = await client.get(f"/v1/tasks/{a.task_id}", headers=manager.headers)
    assert task.json()["state"] == "open"
    assert task.json()["priority"] == 1
    rules = await client.get("/v1/task-rules", headers=manager.headers)
    assert rules.json()["battery_below_percent"] == 20
    command = await client.get(f"/v1/commands/{a.command_id}", headers=manager.headers)
    assert command.json()["state"] == "pending"
