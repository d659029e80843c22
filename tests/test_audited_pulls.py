"""Every auditor read of the OpenAPI document is audited: one entry per successful read,
naming who, what and with which parameters, with the rows handed on; none for a read
refused. The routes come from the generated document, so a new route fails
`test_the_walk_knows_every_route` until it is placed here.
"""

import csv
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from fleet.gbfs.publisher import FILES as GBFS_FILES
from fleet.reporting.models import AuditEntry
from tests.conftest import Tenant, TenantFactory
from tests.payloads import event, now_ms, point, trip, vehicle
from tests.routes import documented_routes

HOUR_MS = 3_600_000
# Routes whose reads the audit log must record: everything the city pulls as data.
AUDITED_PREFIXES = (
    "GET /mds/provider/",
    "POST /mds/metrics",
    "GET /v1/exports/",
    "GET /v1/trips",
)


@dataclass(frozen=True)
class Seeded:
    """Operator A's vehicle with records of a closed hour and of a minute ago."""

    provider_id: str
    device_id: str
    trip_id: str
    hour: str
    last_month: str
    current_month: str


@dataclass(frozen=True)
class Refusal:
    """A read that must be refused with `status` (path None: the read's own path)."""

    status: int
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    path: str | None = None


@dataclass(frozen=True)
class Pull:
    """A successful read, the audit entry it must leave, and reads that must be refused."""

    path: str
    action: str
    # The entry's parameters; None: those of the answer's own `query` (Metrics).
    audited: dict[str, Any] | None
    records: Callable[[Response], int]
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    refused: tuple[Refusal, ...] = ()


def _listed(key: str) -> Callable[[Response], int]:
    return lambda response: len(response.json()[key])


def _csv_rows(response: Response) -> int:
    return len(list(csv.DictReader(io.StringIO(response.text))))


def _hourly(path: str, feed: str, name: str) -> Callable[[Seeded], Pull]:
    def pull(s: Seeded) -> Pull:
        return Pull(
            path,
            f"mds_provider.{feed}",
            {name: s.hour, "provider_id": s.provider_id},
            _listed(feed),
            params={name: s.hour, "provider_id": s.provider_id},
            refused=(
                Refusal(400),
                Refusal(400, {name: "2026-11-26T24"}),
                Refusal(404, {name: datetime.now(UTC).strftime("%Y-%m-%dT%H")}),
            ),
        )

    return pull


def _recent(s: Seeded) -> Pull:
    window = {"start_time": str(now_ms() - HOUR_MS), "end_time": str(now_ms())}
    return Pull(
        "/mds/provider/events/recent",
        "mds_provider.events_recent",
        {**window, "provider_id": s.provider_id, "after": None},
        _listed("events"),
        params={**window, "provider_id": s.provider_id},
        refused=(
            Refusal(400, {"end_time": window["end_time"]}),
            Refusal(400, {**window, "start_time": str(now_ms() - 15 * 24 * HOUR_MS)}),
        ),
    )


def _feed(path: str, action: str, key: str) -> Callable[[Seeded], Pull]:
    def pull(s: Seeded) -> Pull:
        return Pull(
            path,
            action,
            {"provider_id": s.provider_id, "after": None},
            _listed(key),
            params={"provider_id": s.provider_id},
            refused=(Refusal(400, {"limit": 0}),),
        )

    return pull


def _by_device(path: str, action: str, key: str) -> Callable[[Seeded], Pull]:
    def pull(s: Seeded) -> Pull:
        return Pull(
            f"{path}/{s.device_id}",
            action,
            {"device_id": s.device_id},
            _listed(key),
            refused=(Refusal(404, path=f"{path}/{uuid.uuid4()}"),),
        )

    return pull


def _report(s: Seeded) -> Pull:
    reports = "/mds/provider/reports"
    return Pull(
        f"{reports}/{s.last_month}.csv",
        "mds_provider.reports",
        {"month": s.last_month, "provider_id": s.provider_id},
        _csv_rows,
        params={"provider_id": s.provider_id},
        refused=(
            Refusal(400, path=f"{reports}/{s.last_month}.txt"),
            Refusal(400, path=f"{reports}/2026-13.csv"),
            Refusal(404, path=f"{reports}/{s.current_month}.csv"),
        ),
    )


def _metrics(s: Seeded) -> Pull:
    start = (datetime.now(UTC) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:00")
    body = {
        "measures": ["trips.start_loc.count"],
        "interval": "PT1H",
        "start_date": start,
        "filters": [{"name": "provider_id", "values": [s.provider_id]}],
    }
    return Pull(
        "/mds/metrics",
        "mds_metrics.query",
        None,
        _listed("rows"),
        json=body,
        refused=(
            Refusal(400, json={**body, "measures": ["trips.nowhere.count"]}),
            Refusal(400, json={**body, "interval": "PT7M"}),
        ),
    )


def _export(dataset: str) -> Callable[[Seeded], Pull]:
    def pull(s: Seeded) -> Pull:
        start = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
        end = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
        window = {"from": start.isoformat(), "to": end.isoformat()}
        query = {**window, "provider_id": s.provider_id, "format": "csv", "privacy": "raw"}
        return Pull(
            f"/v1/exports/{dataset}",
            f"exports.{dataset}",
            query,
            _csv_rows,
            params=query,
            refused=(
                Refusal(422, {**query, "from": window["to"], "to": window["from"]}),
                Refusal(422, {**query, "from": "yesterday"}),
                Refusal(404, {**query, "provider_id": str(uuid.uuid4())}),
            ),
        )

    return pull


def _trips(s: Seeded) -> Pull:
    return Pull(
        "/v1/trips",
        "v1.trips",
        {"provider_id": s.provider_id},
        _listed("trips"),
        params={"provider_id": s.provider_id},
        refused=(
            Refusal(
                422, {"ended_from": "2026-11-02T00:00:00Z", "ended_to": "2026-11-01T00:00:00Z"}
            ),
            Refusal(422, {"after": str(uuid.uuid4())}),
            Refusal(422, {"ended_from": "yesterday"}),
        ),
    )


def _trip(s: Seeded) -> Pull:
    return Pull(
        f"/v1/trips/{s.trip_id}",
        "v1.trip",
        {"trip_id": s.trip_id},
        lambda response: 1 if response.json()["trip_id"] == s.trip_id else 0,
        refused=(Refusal(404, path=f"/v1/trips/{uuid.uuid4()}"),),
    )


AUDITED: dict[str, Callable[[Seeded], Pull]] = {
    "GET /mds/provider/trips": _hourly("/mds/provider/trips", "trips", "end_time"),
    "GET /mds/provider/events/historical": _hourly(
        "/mds/provider/events/historical", "events", "event_time"
    ),
    "GET /mds/provider/telemetry": _hourly(
        "/mds/provider/telemetry", "telemetry", "telemetry_time"
    ),
    "GET /mds/provider/events/recent": _recent,
    "GET /mds/provider/vehicles": _feed(
        "/mds/provider/vehicles", "mds_provider.vehicles", "vehicles"
    ),
    "GET /mds/provider/vehicles/status": _feed(
        "/mds/provider/vehicles/status", "mds_provider.vehicles_status", "vehicles_status"
    ),
    "GET /mds/provider/vehicles/{device_id}": _by_device(
        "/mds/provider/vehicles", "mds_provider.vehicles", "vehicles"
    ),
    "GET /mds/provider/vehicles/status/{device_id}": _by_device(
        "/mds/provider/vehicles/status", "mds_provider.vehicles_status", "vehicles_status"
    ),
    "GET /mds/provider/reports/{filename}": _report,
    "POST /mds/metrics": _metrics,
    "GET /v1/exports/trips": _export("trips"),
    "GET /v1/exports/events": _export("events"),
    "GET /v1/exports/vehicle-status": _export("vehicle-status"),
    "GET /v1/trips": _trips,
    "GET /v1/trips/{trip_id}": _trip,
}

# Every other route, and why it leaves no entry.
NOT_AUDITED: dict[str, str] = {
    "GET /healthz": "operations",
    "GET /readyz": "operations",
    "GET /metrics": "operations",
    "POST /auth/token": "credentials",
    "GET /mds/metrics": "describes the Metrics API, reads no data",
    "POST /mds/agency/vehicles": "an operator's write",
    "PUT /mds/agency/vehicles": "an operator's write",
    "GET /mds/agency/vehicles": "an operator reading its own fleet",
    "GET /mds/agency/vehicles/status": "an operator reading its own fleet",
    "GET /mds/agency/vehicles/status/{device_id}": "an operator reading its own fleet",
    "GET /mds/agency/vehicles/{device_id}": "an operator reading its own fleet",
    "POST /mds/agency/telemetry": "an operator's write",
    "POST /mds/agency/events": "an operator's write",
    "POST /mds/agency/trips": "an operator's write",
    "GET /mds/geographies": "the city's own public zones",
    "GET /mds/geographies/{geography_id}": "the city's own public zones",
    "GET /mds/policies": "the city's own public policies",
    "GET /mds/policies/{policy_id}": "the city's own public policies",
    "GET /v1/vehicles": "the live operations view",
    "GET /v1/vehicles/{device_id}": "the live operations view",
    "GET /v1/supply": "the live operations view",
    "POST /v1/zones": "zone management",
    "GET /v1/zones": "zone management",
    "PUT /v1/zones/{zone_id}": "zone management",
    "DELETE /v1/zones/{zone_id}": "zone management",
    "GET /v1/zones/{zone_id}": "zone management",
    "POST /v1/geofence/check": "a stateless check",
    "GET /v1/alerts": "the live operations view",
    "POST /v1/policies": "policy management",
    "GET /v1/compliance": "the live operations view",
    "GET /v1/audit-log": "the log itself",
    "GET /v1/task-rules": "an operator's own configuration",
    "PUT /v1/task-rules": "an operator's own configuration",
    "GET /v1/tasks": "an operator's own field work; changes are in the task history",
    "POST /v1/tasks": "an operator's own field work; changes are in the task history",
    "GET /v1/tasks/summary": "an operator's own field work",
    "GET /v1/tasks/{task_id}": "an operator's own field work; changes are in the task history",
    "PATCH /v1/tasks/{task_id}": "recorded in the task history with its principal",
    "POST /v1/tasks/{task_id}/claim": "recorded in the task history with its principal",
    "POST /v1/tasks/{task_id}/start": "recorded in the task history with its principal",
    "POST /v1/tasks/{task_id}/complete": "recorded in the task history with its principal",
    "POST /v1/tasks/{task_id}/release": "recorded in the task history with its principal",
    "POST /v1/tasks/{task_id}/assign": "recorded in the task history with its principal",
    "POST /v1/tasks/{task_id}/cancel": "recorded in the task history with its principal",
    "POST /v1/vehicles/{device_id}/commands": "an operator commanding its own fleet",
    "GET /v1/vehicles/{device_id}/commands": "an operator reading its own commands",
    "GET /v1/commands/{command_id}": "an operator reading its own commands",
    "GET /v1/gateway/commands": "a gateway taking its own fleet's commands",
    "POST /v1/gateway/commands/{command_id}/ack": "a gateway answering a command",
    "GET /v1/demand/forecast": "a model's expected counts per cell and hour, no record",
    "GET /v1/rebalancing/targets": "the live operations view",
    "POST /v1/rebalancing/plans": "an operator planning its own vans; the plan keeps its author",
    "GET /v1/rebalancing/plans/{plan_id}": "an operator's own plan",
    "GET /v1/rebalancing/plans": "an operator's own plans",
    "POST /v1/rebalancing/plans/{plan_id}/dispatch": "recorded with its principal on the plan",
    "POST /v1/dispatch/requests": "an operator's own booking; the request keeps its author",
    "GET /v1/dispatch/requests": "an operator's own bookings",
    "GET /v1/dispatch/requests/{request_id}": "an operator's own booking",
    "POST /v1/dispatch/requests/{request_id}/cancel": "recorded in the request's history",
    "POST /v1/dispatch/requests/{request_id}/outcome": "recorded in the request's history",
    "GET /v1/dispatch/pods": "an operator's own pods",
    "GET /v1/dispatch/pods/{device_id}/schedule": "an operator's own pod",
    "GET /v1/dispatch/settings": "an operator's own settings",
    "PUT /v1/dispatch/settings": "an operator's own settings, kept with their author",
    "GET /gbfs/manifest.json": "public GBFS: no credentials, no trip, no rider",
    **{
        f"GET /gbfs/{{system_id}}/{name}.json": "public GBFS: no credentials, no trip, no rider"
        for name in GBFS_FILES
    },
    "GET /v1/gbfs/system": "an operator's own settings",
    "PUT /v1/gbfs/system": "an operator's own settings, kept with their author",
    "GET /v1/gbfs/vehicles/{vehicle_id}": "an operator looking up its own vehicle",
}


def test_the_walk_knows_every_route(app: FastAPI) -> None:
    documented = documented_routes(app)
    unknown = [r for r in documented if r not in AUDITED and r not in NOT_AUDITED]
    assert not unknown, "\n".join(f"add route {r} to AUDITED or NOT_AUDITED" for r in unknown)
    assert not (AUDITED.keys() | NOT_AUDITED.keys()) - set(documented), "routes not in the API"
    exempt = [r for r in NOT_AUDITED if r.startswith(AUDITED_PREFIXES) and r != "GET /mds/metrics"]
    assert not exempt, f"auditor reads must be audited: {exempt}"


async def entries(session: AsyncSession, who: Tenant) -> list[AuditEntry]:
    """The audit entries of a key, oldest first."""
    query = select(AuditEntry).where(AuditEntry.key_id == who.key_id)
    return list((await session.execute(query.order_by(AuditEntry.entry_id))).scalars())


async def _ok(client: AsyncClient, who: Tenant, path: str, body: Any) -> None:
    response = await client.post(path, headers=who.headers, json=body)
    assert response.status_code == 201, response.text


def _hour_of(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H")


async def seed(client: AsyncClient, tenant: TenantFactory) -> Seeded:
    """A's vehicle: a point, an event and a trip two hours ago, an event a minute ago."""
    gateway = await tenant()
    registered = vehicle(gateway)
    await _ok(client, gateway, "/mds/agency/vehicles", [registered])
    device = registered["device_id"]
    past = now_ms() - 2 * HOUR_MS
    await _ok(client, gateway, "/mds/agency/telemetry", [point(gateway, device, timestamp=past)])
    events = [event(gateway, device, timestamp=past), event(gateway, device)]
    await _ok(client, gateway, "/mds/agency/events", events)
    ended = trip(gateway, device, start_time=past - 600_000, end_time=past, duration=600)
    await _ok(client, gateway, "/mds/agency/trips", [ended])
    this_month = datetime.now(UTC).replace(day=1)
    return Seeded(
        provider_id=str(gateway.provider_id),
        device_id=device,
        trip_id=ended["trip_id"],
        hour=_hour_of(past),
        last_month=(this_month - timedelta(days=1)).strftime("%Y-%m"),
        current_month=this_month.strftime("%Y-%m"),
    )


async def _read(client: AsyncClient, who: Tenant, route: str, pull: Pull) -> Response:
    method = route.split(" ", 1)[0]
    return await client.request(
        method, pull.path, params=pull.params, json=pull.json, headers=who.headers
    )


async def test_every_auditor_read_leaves_one_entry_with_who_what_and_rows(
    app: FastAPI, client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    s = await seed(client, tenant)
    auditor = await tenant(Role.CITY_AUDITOR)
    found: list[str] = []
    for route in [r for r in documented_routes(app) if r in AUDITED]:
        pull = AUDITED[route](s)
        before = len(await entries(session, auditor))
        response = await _read(client, auditor, route, pull)
        assert response.status_code == 200, f"{route}: {response.text}"
        new = (await entries(session, auditor))[before:]
        audited = pull.audited if pull.audited is not None else response.json()["query"]
        left = [(e.key_id, e.role, e.action, e.params, e.rows) for e in new]
        due = [(auditor.key_id, "city_auditor", pull.action, audited, pull.records(response))]
        if left != due:
            found.append(f"{route}: left {left}, due {due}")
    assert not found, "\n".join(found)
    # The seeded records were read, so the rows counted are not all zero by chance.
    read = {e.action: e.rows for e in await entries(session, auditor)}
    read_actions = ("mds_provider.trips", "exports.trips", "exports.events", "v1.trips")
    assert all(read[a] > 0 for a in read_actions)


async def test_a_refused_read_leaves_no_entry(
    app: FastAPI, client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    s = await seed(client, tenant)
    auditor = await tenant(Role.CITY_AUDITOR)
    found: list[str] = []
    for route in [r for r in documented_routes(app) if r in AUDITED]:
        pull = AUDITED[route](s)
        assert pull.refused, f"{route}: give it reads to refuse"
        for refusal in pull.refused:
            refused = Pull(
                refusal.path or pull.path,
                pull.action,
                {},
                pull.records,
                params=refusal.params,
                json=refusal.json if refusal.json is not None else pull.json,
            )
            response = await _read(client, auditor, route, refused)
            if response.status_code != refusal.status:
                found.append(f"{route} {refusal}: answered {response.status_code}")
    assert not found, "\n".join(found)
    assert await entries(session, auditor) == []


async def test_another_operator_is_audited_for_what_it_got_and_refused_the_rest(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    s = await seed(client, tenant)
    other = await tenant(Role.OPERATOR_MANAGER)
    # Filtering on A's provider gives B nothing, and B's pull is recorded as such.
    hourly = {"end_time": s.hour, "provider_id": s.provider_id}
    response = await client.get("/mds/provider/trips", params=hourly, headers=other.headers)
    assert response.status_code == 200
    assert response.json()["trips"] == []
    # A's vehicle and an export of A's data are refused (404), leaving no entry.
    for path in (
        f"/mds/provider/vehicles/{s.device_id}",
        f"/mds/provider/vehicles/status/{s.device_id}",
    ):
        assert (await client.get(path, headers=other.headers)).status_code == 404
    window = {
        "from": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        "to": datetime.now(UTC).isoformat(),
        "provider_id": s.provider_id,
    }
    exported = await client.get("/v1/exports/trips", params=window, headers=other.headers)
    assert exported.status_code == 404
    # Raw data is for city auditors only, even of B's own provider.
    raw = {**window, "provider_id": str(other.provider_id), "privacy": "raw"}
    assert (
        await client.get("/v1/exports/trips", params=raw, headers=other.headers)
    ).status_code == 403
    left = [(e.action, e.params, e.rows) for e in await entries(session, other)]
    assert left == [("mds_provider.trips", hourly, 0)]
