"""The task upkeep jobs: overdue tasks expire, silent vehicles get an inspection."""

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient

from fleet.background_jobs import TaskUpkeep
from tests.conftest import TenantFactory, auth
from tests.payloads import now_ms, point, post, register
from tests.tasks import act, crew, open_task

HOUR_MS = 3_600_000


def upkeep(app: FastAPI) -> TaskUpkeep:
    return TaskUpkeep(app.state.resources.sessionmaker, app.state.task_feed)


async def state_of(client: AsyncClient, who: Any, task_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await client.get(f"/v1/tasks/{task_id}", headers=auth(who))).json()
    return found


async def test_overdue_open_and_assigned_tasks_expire_work_in_progress_does_not(
    app: FastAPI, client: AsyncClient, tenant: TenantFactory
) -> None:
    c = await crew(tenant)
    devices = await register(client, c.gateway, 4)
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    overdue = await open_task(client, c.manager, devices[0], due_at=past)
    claimed = await open_task(client, c.manager, devices[1], due_at=past)
    working = await open_task(client, c.manager, devices[2], due_at=past)
    later = await open_task(client, c.manager, devices[3], due_at=future)
    await act(client, c.agent, claimed["task_id"], "claim")
    await act(client, c.agent, working["task_id"], "claim")
    await act(client, c.agent, working["task_id"], "start")

    await upkeep(app).expire_tasks()

    states = {
        t["task_id"]: (await state_of(client, c.agent, t["task_id"]))["state"]
        for t in (overdue, claimed, working, later)
    }
    assert states == {
        overdue["task_id"]: "expired",
        claimed["task_id"]: "expired",
        working["task_id"]: "in_progress",
        later["task_id"]: "open",
    }
    expired = await state_of(client, c.agent, claimed["task_id"])
    assert expired["closed_by"] == "system"
    assert expired["closed_reason"] == "overdue"
    last = expired["history"][-1]
    assert (last["action"], last["actor"], last["from_state"]) == ("expire", "system", "assigned")


async def test_a_vehicle_silent_past_the_rule_gets_one_inspection_closed_when_it_reports(
    app: FastAPI, client: AsyncClient, tenant: TenantFactory
) -> None:
    c = await crew(tenant)
    silent, recent = await register(client, c.gateway, 2)
    where = {"lat": 56.05, "lng": 12.70, "speed": 0.0}
    await post(
        client,
        c.gateway,
        "telemetry",
        [
            point(c.gateway, silent, timestamp=now_ms() - 13 * HOUR_MS, location=where),
            point(c.gateway, recent, timestamp=now_ms() - HOUR_MS),
        ],
    )
    patient = await crew(tenant)
    (quiet,) = await register(client, patient.gateway)
    rules = {"inspect_after_hours": 24}
    assert (
        await client.put("/v1/task-rules", headers=auth(patient.manager), json=rules)
    ).status_code == 200
    await post(
        client,
        patient.gateway,
        "telemetry",
        [point(patient.gateway, quiet, timestamp=now_ms() - 13 * HOUR_MS)],
    )

    await upkeep(app).inspect_silent()
    await upkeep(app).inspect_silent()

    found = (await client.get("/v1/tasks", headers=auth(c.agent))).json()["data"]
    assert [(t["kind"], t["device_id"], t["lat"], t["lng"]) for t in found] == [
        ("inspect", silent, 56.05, 12.70)
    ]
    assert (await client.get("/v1/tasks", headers=auth(patient.agent))).json()["data"] == []
    await post(client, c.gateway, "telemetry", [point(c.gateway, silent)])
    closed = await state_of(client, c.agent, found[0]["task_id"])
    assert closed["state"] == "done"
    assert closed["closed_reason"] == "the vehicle reported again"
