"""An operator's rebalancing crew on the API: its manager asks for the van's plan and
dispatches it, its field agent works the tasks (`/v1/rebalancing`, `/v1/tasks` over HTTP).

Every call raises `CrewError` when the server does not answer as a working plan needs,
so that the caller can report it and carry on.
"""

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

from demo.simulator.gateway import pages

POLL_S = 1.0
# A plan still computing after this long is given up; the next one is asked for later.
POLL_LIMIT_S = 120.0
TASK_PAGE = 200
ACTIVE = ("assigned", "in_progress")


class CrewError(Exception):
    """The server refused or failed a crew's request; the message says which and how."""


@dataclass(frozen=True)
class Crew:
    """An operator's manager and field agent keys (kept out of any repr)."""

    manager_key: str = field(repr=False)
    agent_key: str = field(repr=False)

    @property
    def agent_id(self) -> str:
        """The agent's key id, which plans and tasks name the agent by (a key reads
        `fbk_<key id>.<secret>`)."""
        return self.agent_key.removeprefix("fbk_").partition(".")[0]


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    key: str,
    expected: tuple[int, ...] = (200,),
    body: dict[str, Any] | None = None,
) -> httpx.Response:
    try:
        response = await client.request(method, path, headers=_auth(key), json=body)
    except httpx.HTTPError as exc:
        raise CrewError(f"{method} {path}: no answer ({exc!r})") from exc
    if response.status_code not in expected:
        raise CrewError(f"{method} {path}: HTTP {response.status_code} {response.text[:300]}")
    return response


async def ask_for_plan(
    client: httpx.AsyncClient, crew: Crew, body: dict[str, Any]
) -> dict[str, Any]:
    """The manager's plan for `body`, polled while it computes (a 202); a plan that
    failed, or computes past `POLL_LIMIT_S`, is a CrewError."""
    path = "/v1/rebalancing/plans"
    response = await _call(client, "POST", path, crew.manager_key, (201, 202), body)
    plan: dict[str, Any] = response.json()
    location = response.headers.get("location", f"{path}/{plan['plan_id']}")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + POLL_LIMIT_S
    while plan["state"] == "computing":
        if loop.time() > deadline:
            raise CrewError(f"plan {plan['plan_id']} still computing after {POLL_LIMIT_S:.0f} s")
        await asyncio.sleep(POLL_S)
        plan = (await _call(client, "GET", location, crew.manager_key)).json()
    if plan["state"] != "ready":
        raise CrewError(f"plan {plan['plan_id']} {plan['state']}: {plan.get('error')}")
    return plan


async def dispatch(client: httpx.AsyncClient, crew: Crew, plan_id: str) -> dict[str, Any]:
    """The plan dispatched by the manager: its tasks assigned to the agent."""
    path = f"/v1/rebalancing/plans/{plan_id}/dispatch"
    dispatched: dict[str, Any] = (await _call(client, "POST", path, crew.manager_key)).json()
    return dispatched


async def agent_tasks(client: httpx.AsyncClient, crew: Crew, state: str) -> list[dict[str, Any]]:
    """The tasks assigned to the agent in `state`, as the agent lists them."""
    url = f"/v1/tasks?assignee={crew.agent_id}&state={state}&limit={TASK_PAGE}"
    try:
        return await pages(client, url, _auth(crew.agent_key), "data")
    except httpx.HTTPError as exc:
        raise CrewError(f"GET /v1/tasks: {exc!r}") from exc


async def cancel_leftovers(client: httpx.AsyncClient, crew: Crew) -> int:
    """Cancel, as the manager, the agent's rebalancing tasks still active from earlier
    plans (a run stopped mid-shift): they would keep their vehicles out of new plans."""
    left = [t for state in ACTIVE for t in await agent_tasks(client, crew, state) if t["plan_id"]]
    for task in left:
        await cancel(client, crew, task["task_id"])
    return len(left)


async def start(client: httpx.AsyncClient, crew: Crew, task_id: str) -> None:
    """The agent starts a task assigned to them."""
    await _call(client, "POST", f"/v1/tasks/{task_id}/start", crew.agent_key)


async def complete(
    client: httpx.AsyncClient, crew: Crew, task_id: str, lat: float, lng: float, note: str
) -> None:
    """The agent completes a task in progress where they stand."""
    body = {"note": note, "position": {"lat": lat, "lng": lng}}
    await _call(client, "POST", f"/v1/tasks/{task_id}/complete", crew.agent_key, body=body)


async def cancel(client: httpx.AsyncClient, crew: Crew, task_id: str) -> None:
    """The manager cancels a task that cannot be done (its vehicle was not there)."""
    await _call(client, "POST", f"/v1/tasks/{task_id}/cancel", crew.manager_key)
