"""The task API: creation, every transition, the illegal ones, listing, tenancy, bad input."""

import uuid

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from fleet.tasks.models import TaskRuleRecord
from tests.conftest import TenantFactory, auth
from tests.payloads import register
from tests.tasks import HERE, act, crew, open_task


async def test_a_task_goes_through_claim_start_complete_with_history(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    c = await crew(tenant)
    (device,) = await register(client, c.gateway)
    task = await open_task(client, c.manager, device, kind="battery_swap", priority=5)
    assert task["state"] == "open"
    assert task["created_by"] == c.manager.key_id
    claimed = await act(client, c.agent, task["task_id"], "claim")
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["state"] == "assigned"
    assert claimed.json()["assignee"] == c.agent.key_id
    started = await act(client, c.agent, task["task_id"], "start")
    assert started.json()["state"] == "in_progress"
    done = await act(
        client,
        c.agent,
        task["task_id"],
        "complete",
        {"note": "swapped", "position": {"lat": 56.05, "lng": 12.69}},
    )
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "done"
    assert done.json()["closed_by"] == c.agent.key_id
    detail = (await client.get(f"/v1/tasks/{task['task_id']}", headers=auth(c.agent))).json()
    steps = [(h["action"], h["from_state"], h["to_state"], h["actor"]) for h in detail["history"]]
    assert steps == [
        ("open", None, "open", c.manager.key_id),
        ("claim", "open", "assigned", c.agent.key_id),
        ("start", "assigned", "in_progress", c.agent.key_id),
        ("complete", "in_progress", "done", c.agent.key_id),
    ]
    assert detail["history"][-1]["details"] == {
        "note": "swapped",
        "position": {"lat": 56.05, "lng": 12.69},
    }


async def test_release_assign_reprioritise_and_cancel(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    c = await crew(tenant)
    (device,) = await register(client, c.gateway)
    task_id = (await open_task(client, c.manager, device))["task_id"]
    await act(client, c.agent, task_id, "claim")
    released = await act(client, c.agent, task_id, "release")
    assert released.json()["state"] == "open"
    assert released.json()["assignee"] is None
    assigned = await act(client, c.manager, task_id, "assign", {"assignee": c.other_agent.key_id})
    assert assigned.json()["assignee"] == c.other_agent.key_id
    reassigned = await act(client, c.manager, task_id, "assign", {"assignee": c.agent.key_id})
    assert reassigned.json()["state"] == "assigned"
    patched = await client.patch(
        f"/v1/tasks/{task_id}", headers=auth(c.manager), json={"priority": 9}
    )
    assert patched.status_code == 200
    assert patched.json()["priority"] == 9
    cancelled = await act(client, c.manager, task_id, "cancel")
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["closed_by"] == c.manager.key_id
    history = (await client.get(f"/v1/tasks/{task_id}", headers=auth(c.manager))).json()["history"]
    assert [h["action"] for h in history] == [
        "open",
        "claim",
        "release",
        "assign",
        "assign",
        "update",
        "cancel",
    ]
    assert history[5]["details"] == {"priority": {"from": 1, "to": 9}}


async def test_an_illegal_transition_is_a_409_naming_the_allowed_ones(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    c = await crew(tenant)
    (device,) = await register(client, c.gateway)
    task_id = (await open_task(client, c.manager, device))["task_id"]
    early = await act(client, c.agent, task_id, "complete")
    assert early.status_code == 409
    assert early.headers["content-type"].startswith("application/problem+json")
    assert early.json()["allowed"] == ["claim"]
    await act(client, c.agent, task_id, "claim")
    again = await act(client, c.other_agent, task_id, "claim")
    assert again.status_code == 409
    assert again.json()["allowed"] == ["start", "release"]
    taken = await act(client, c.other_agent, task_id, "start")
    assert taken.status_code == 409
    assert c.agent.key_id in taken.json()["detail"]
    await act(client, c.manager, task_id, "cancel")
    closed = await act(client, c.agent, task_id, "release")
    assert closed.status_code == 409
    assert closed.json()["allowed"] == []
    patched = await client.patch(
        f"/v1/tasks/{task_id}", headers=auth(c.manager), json={"priority": 3}
    )
    assert patched.status_code == 409
    history = (await client.get(f"/v1/tasks/{task_id}", headers=auth(c.manager))).json()["history"]
    assert [h["action"] for h in history] == ["open", "claim", "cancel"]


async def test_agents_may_not_manage(client: AsyncClient, tenant: TenantFactory) -> None:
    c = await crew(tenant)
    (device,) = await register(client, c.gateway)
    task_id = (await open_task(client, c.manager, device))["task_id"]
    body = {"kind": "inspect", "device_id": device, "place": HERE}
    assert (await client.post("/v1/tasks", headers=auth(c.agent), json=body)).status_code == 403
    assert (await act(client, c.agent, task_id, "cancel")).status_code == 403
    assigned = await act(client, c.agent, task_id, "assign", {"assignee": c.agent.key_id})
    assert assigned.status_code == 403
    put = await client.put("/v1/task-rules", headers=auth(c.agent), json={})
    assert put.status_code == 403
    assert (await client.get(f"/v1/tasks/{task_id}", headers=auth(c.gateway))).status_code == 403


async def test_a_second_active_task_of_a_kind_for_a_vehicle_is_refused(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    c = await crew(tenant)
    (device,) = await register(client, c.gateway)
    await open_task(client, c.manager, device, kind="relocate")
    body = {"kind": "relocate", "device_id": device, "place": HERE}
    twice = await client.post("/v1/tasks", headers=auth(c.manager), json=body)
    assert twice.status_code == 409
    other_kind = await client.post(
        "/v1/tasks", headers=auth(c.manager), json={**body, "kind": "inspect"}
    )
    assert other_kind.status_code == 201


async def test_near_orders_by_distance_then_priority(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    c = await crew(tenant)
    devices = await register(client, c.gateway, 3)
    far = {"lat": HERE["lat"] + 0.02, "lng": HERE["lng"]}
    low = await open_task(client, c.manager, devices[0], priority=1)
    high = await open_task(client, c.manager, devices[1], priority=7)
    away = await open_task(client, c.manager, devices[2], place=far, priority=99)
    dropoff = await open_task(
        client,
        c.manager,
        device_id=None,  # type: ignore[arg-type]
        kind="rebalance_dropoff",
        place={"lat": HERE["lat"] + 0.01, "lng": HERE["lng"]},
    )
    near = f"{HERE['lat']},{HERE['lng']}"
    found = (await client.get("/v1/tasks", params={"near": near}, headers=auth(c.agent))).json()
    order = [t["task_id"] for t in found["data"]]
    assert order == [high["task_id"], low["task_id"], dropoff["task_id"], away["task_id"]]
    distances = [t["distance_m"] for t in found["data"]]
    assert distances[0] < 1
    assert 1000 < distances[2] < 1200
    assert 2100 < distances[3] < 2300
    only = await client.get(
        "/v1/tasks", params={"near": near, "kind": "rebalance_dropoff"}, headers=auth(c.agent)
    )
    assert [t["task_id"] for t in only.json()["data"]] == [dropoff["task_id"]]


async def test_listing_pages_by_cursor_and_filters_by_state(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    c = await crew(tenant)
    devices = await register(client, c.gateway, 3)
    ids = {(await open_task(client, c.manager, d))["task_id"] for d in devices}
    first = (await client.get("/v1/tasks", params={"limit": 2}, headers=auth(c.manager))).json()
    assert len(first["data"]) == 2
    assert first["links"]["next"]
    rest = (await client.get(first["links"]["next"], headers=auth(c.manager))).json()
    assert {t["task_id"] for t in first["data"] + rest["data"]} == ids
    claimed = sorted(ids)[0]
    await act(client, c.agent, claimed, "claim")
    assigned = await client.get("/v1/tasks", params={"state": "assigned"}, headers=auth(c.agent))
    assert [t["task_id"] for t in assigned.json()["data"]] == [claimed]


async def test_since_returns_what_changed_after_the_cursor(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    c = await crew(tenant)
    devices = await register(client, c.gateway, 2)
    a = await open_task(client, c.manager, devices[0])
    b = await open_task(client, c.manager, devices[1])
    start = (await client.get("/v1/tasks", params={"since": "0"}, headers=auth(c.agent))).json()
    assert [t["task_id"] for t in start["data"]] == [a["task_id"], b["task_id"]]
    cursor = start["cursor"]
    await act(client, c.agent, a["task_id"], "claim")
    later = await client.get("/v1/tasks", params={"since": str(cursor)}, headers=auth(c.agent))
    assert [(t["task_id"], t["state"]) for t in later.json()["data"]] == [
        (a["task_id"], "assigned")
    ]
    idle = await client.get(
        "/v1/tasks", params={"since": str(later.json()["cursor"])}, headers=auth(c.agent)
    )
    assert idle.json()["data"] == []
    assert idle.json()["cursor"] == later.json()["cursor"]


async def test_summary_counts_by_kind_state_and_age(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    c = await crew(tenant)
    devices = await register(client, c.gateway, 3)
    await open_task(client, c.manager, devices[0], kind="battery_swap")
    await open_task(client, c.manager, devices[1], kind="battery_swap")
    gone = await open_task(client, c.manager, devices[2], kind="relocate")
    await act(client, c.manager, gone["task_id"], "cancel")
    summary = (await client.get("/v1/tasks/summary", headers=auth(c.agent))).json()
    assert summary["by_kind"]["battery_swap"] == 2
    assert summary["by_kind"]["relocate"] == 1
    assert summary["by_state"]["open"] == 2
    assert summary["by_state"]["cancelled"] == 1
    assert summary["active_by_age"] == {"under_1h": 2, "1h_to_6h": 0, "6h_to_24h": 0, "over_24h": 0}


async def test_another_providers_task_is_not_found_on_every_route(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    a = await crew(tenant)
    b = await crew(tenant)
    (device,) = await register(client, a.gateway)
    task_id = (await open_task(client, a.manager, device))["task_id"]
    path = f"/v1/tasks/{task_id}"
    assert (await client.get(path, headers=auth(b.agent))).status_code == 404
    for action in ("claim", "start", "complete", "release"):
        assert (await act(client, b.agent, task_id, action)).status_code == 404
    assert (await act(client, b.manager, task_id, "cancel")).status_code == 404
    assign = await act(client, b.manager, task_id, "assign", {"assignee": b.agent.key_id})
    assert assign.status_code == 404
    patched = await client.patch(path, headers=auth(b.manager), json={"priority": 2})
    assert patched.status_code == 404
    foreign = {"kind": "inspect", "device_id": device, "place": HERE}
    assert (
        await client.post("/v1/tasks", headers=auth(b.manager), json=foreign)
    ).status_code == 404
    listed = await client.get("/v1/tasks", params={"since": "0"}, headers=auth(b.agent))
    assert listed.json()["data"] == []
    summary = (await client.get("/v1/tasks/summary", headers=auth(b.agent))).json()
    assert sum(summary["by_state"].values()) == 0
    # Nor may A give its task to B's agent.
    given = await act(client, a.manager, task_id, "assign", {"assignee": b.agent.key_id})
    assert given.status_code == 422
    kept = (await client.get(path, headers=auth(a.agent))).json()
    assert kept["state"] == "open"
    assert [h["action"] for h in kept["history"]] == ["open"]


async def test_bad_input_is_refused_and_changes_nothing(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    c = await crew(tenant)
    (device,) = await register(client, c.gateway)
    task_id = (await open_task(client, c.manager, device))["task_id"]
    bad_bodies = [
        {"kind": "teleport", "device_id": device, "place": HERE},
        {"kind": "inspect"},
        {"kind": "deploy", "device_id": device, "place": HERE},
        {"kind": "deploy"},
        {"kind": "inspect", "device_id": device, "place": {"lat": 91, "lng": 0}},
        {"kind": "inspect", "device_id": device, "priority": 101},
        {"kind": "inspect", "device_id": device, "extra": 1},
        {"kind": "inspect", "device_id": device, "due_at": "tomorrow"},
    ]
    for body in bad_bodies:
        answer = await client.post("/v1/tasks", headers=auth(c.manager), json=body)
        assert answer.status_code == 422, body
        assert answer.headers["content-type"].startswith("application/problem+json")
    unknown = {"kind": "inspect", "device_id": str(uuid.uuid4())}
    assert (
        await client.post("/v1/tasks", headers=auth(c.manager), json=unknown)
    ).status_code == 404
    for params in (
        {"near": "56"},
        {"near": "91,0"},
        {"near": "1,1", "since": "0"},
        {"since": "yesterday"},
        {"since": "2026-12-03T10:00:00"},
        {"since": "12"},
        {"since": "1.2.3"},
        {"since": "-1.2"},
        {"since": "9223372036854775808.1"},
        {"kind": "x"},
        {"state": "x"},
        {"limit": 0},
    ):
        assert (
            await client.get("/v1/tasks", params=params, headers=auth(c.agent))
        ).status_code == 422, params
    path = f"/v1/tasks/{task_id}"
    for body in ({}, {"priority": -1}, {"state": "done"}):
        assert (await client.patch(path, headers=auth(c.manager), json=body)).status_code == 422
    for body in ({}, {"assignee": ""}, {"assignee": "nobody"}):
        assert (await act(client, c.manager, task_id, "assign", body)).status_code == 422
    bad_complete = {"position": {"lat": 0}}
    await act(client, c.agent, task_id, "claim")
    await act(client, c.agent, task_id, "start")
    assert (await act(client, c.agent, task_id, "complete", bad_complete)).status_code == 422
    assert (await client.get("/v1/tasks/not-a-uuid", headers=auth(c.agent))).status_code == 422
    for body in (
        {"battery_below_percent": 101},
        {"battery_below_by_vehicle_type": {"tank": 5}},
        {"battery_below_by_vehicle_type": {"scooter_standing": -1}},
        {"relocate_due_minutes": 0},
        {"unknown": 1},
    ):
        put = await client.put("/v1/task-rules", headers=auth(c.manager), json=body)
        assert put.status_code == 422, body
    kept = (await client.get(path, headers=auth(c.agent))).json()
    assert kept["state"] == "in_progress"
    assert kept["priority"] == 1
    rules = (await client.get("/v1/task-rules", headers=auth(c.agent))).json()
    assert rules["battery_below_percent"] == 20
    assert rules["relocate_due_minutes"] == 60


async def test_task_rules_default_then_set(client: AsyncClient, tenant: TenantFactory) -> None:
    c = await crew(tenant)
    other = await tenant(Role.OPERATOR_MANAGER)
    before = (await client.get("/v1/task-rules", headers=auth(c.manager))).json()
    assert before["battery_below_percent"] == 20
    assert before["inspect_after_hours"] == 12
    body = {"battery_below_percent": 30, "battery_below_by_vehicle_type": {"bicycle": 10}}
    put = await client.put("/v1/task-rules", headers=auth(c.manager), json=body)
    assert put.status_code == 200
    after = (await client.get("/v1/task-rules", headers=auth(c.agent))).json()
    assert after["battery_below_percent"] == 30
    assert after["battery_below_by_vehicle_type"] == {"bicycle": 10}
    assert after["relocate_due_minutes"] == 60
    theirs = (await client.get("/v1/task-rules", headers=auth(other))).json()
    assert theirs["battery_below_percent"] == 20


async def test_stored_rules_with_an_unknown_setting_keep_the_known_ones(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    c = await crew(tenant)
    assert c.manager.provider_id is not None
    stored = {"battery_below_percent": 35, "from_a_later_version": True}
    session.add(TaskRuleRecord(provider_id=c.manager.provider_id, rules=stored, updated_by="x"))
    await session.flush()
    rules = (await client.get("/v1/task-rules", headers=auth(c.agent))).json()
    assert rules["battery_below_percent"] == 35
    assert rules["relocate_due_minutes"] == 60
