"""Field tasks (/v1/tasks) and each provider's task rules (/v1/task-rules)."""

import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request

from app.core.auth import Principal, Scope
from app.core.bounded import QueryText
from app.core.errors import InvalidInput
from app.deps import SessionDep, require
from app.paging import PageDep
from fleet.live.geo import parse_point
from fleet.tasks import service
from fleet.tasks.cursor import ChangeCursor, parse_cursor
from fleet.tasks.feed import TaskFeed
from fleet.tasks.kinds import TaskKind
from fleet.tasks.models import Task
from fleet.tasks.rules import TaskRules
from fleet.tasks.schemas import (
    TaskAssign,
    TaskChangeRead,
    TaskComplete,
    TaskCreate,
    TaskDetail,
    TaskPage,
    TaskRead,
    TaskRulesBody,
    TaskSummary,
    TaskUpdate,
)
from fleet.tasks.service import Changed, Move, NewTask, Place, TaskFilter
from fleet.tasks.states import Action, Actor, TaskState

router = APIRouter(prefix="/v1", tags=["tasks"])

Reader = Annotated[Principal, Depends(require(Scope.FLEET_READ, provider_bound=True))]
Worker = Annotated[Principal, Depends(require(Scope.TASKS_WRITE, provider_bound=True))]
Manager = Annotated[Principal, Depends(require(Scope.TASKS_MANAGE, provider_bound=True))]
TaskId = uuid.UUID


def _provider(principal: Principal) -> uuid.UUID:
    provider_id, _ = principal.acting_for()
    return provider_id


def _read(task: Task, distance_m: float | None = None) -> TaskRead:
    return TaskRead.model_validate(
        {
            **{c.name: getattr(task, c.name) for c in Task.__table__.columns},
            "distance_m": distance_m,
        }
    )


def _publish(request: Request, background: BackgroundTasks, changes: list[Changed]) -> None:
    """Stream the changes once the request's transaction has committed."""
    feed: TaskFeed = request.app.state.task_feed
    background.add_task(feed.publish, changes)


def _actor(principal: Principal) -> Actor:
    return Actor.MANAGER if principal.has(Scope.TASKS_MANAGE) else Actor.AGENT


@router.get(
    "/task-rules",
    operation_id="v1_get_task_rules",
    summary="The caller's task rules (defaults until set)",
    response_model=TaskRulesBody,
)
async def get_rules(session: SessionDep, principal: Reader) -> TaskRulesBody:
    """The rules that open tasks for the caller's fleet."""
    rules = await service.task_rules(session, provider_id=_provider(principal))
    return TaskRulesBody.model_validate(asdict(rules))


@router.put(
    "/task-rules",
    operation_id="v1_put_task_rules",
    summary="Replace the caller's task rules",
    response_model=TaskRulesBody,
)
async def put_rules(session: SessionDep, principal: Manager, body: TaskRulesBody) -> TaskRulesBody:
    """Managers set the thresholds and due times; fields left out take their defaults."""
    rules = TaskRules(**body.model_dump())
    await service.put_task_rules(
        session, provider_id=_provider(principal), rules=rules, actor=principal.key_id
    )
    return body


def _since(text: str) -> tuple[ChangeCursor | None, datetime | None]:
    """A change cursor ("0" or one a page gave) or an RFC 3339 time."""
    cursor = parse_cursor(text)
    if cursor is not None:
        return cursor, None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            "since is a cursor (0, or one a page gave) or an RFC 3339 time", fields=("since",)
        ) from None
    if when.tzinfo is None:
        raise InvalidInput("since needs a UTC offset", fields=("since",))
    return None, when.astimezone(UTC)


@router.get(
    "/tasks",
    operation_id="v1_list_tasks",
    summary="Tasks: nearest first, changed since a cursor, or paged by id",
    response_model=TaskPage,
)
async def list_tasks(
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    near: Annotated[QueryText | None, Query(description="LAT,LNG: nearest first")] = None,
    since: Annotated[
        QueryText | None, Query(description="A change cursor, or an RFC 3339 time")
    ] = None,
    kind: Annotated[TaskKind | None, Query()] = None,
    state: Annotated[TaskState | None, Query()] = None,
    device_id: Annotated[uuid.UUID | None, Query()] = None,
    assignee: Annotated[QueryText | None, Query(description="An agent's key id")] = None,
    plan_id: Annotated[
        uuid.UUID | None, Query(description="The rebalancing plan the tasks came from")
    ] = None,
) -> TaskPage:
    """At most one of `near` and `since`; the filters apply to every form."""
    if near is not None and since is not None:
        raise InvalidInput("give at most one of near and since", fields=("near", "since"))
    provider_id = _provider(principal)
    where = TaskFilter(kind, state, device_id, assignee, plan_id)
    if since is not None:
        cursor, after_time = _since(since)
        found = await service.changed_since(
            session,
            provider_id=provider_id,
            where=where,
            cursor=cursor,
            changed_after=after_time,
            limit=page.size,
        )
        last = ChangeCursor(found[-1].change_tx, found[-1].change_seq) if found else cursor
        return TaskPage(
            data=[_read(t) for t in found], links={}, cursor=last.text() if last else None
        )
    place = None
    if near is not None:
        try:
            place = Place(*parse_point(near))
        except ValueError as exc:
            raise InvalidInput(str(exc), fields=("near",)) from None
    rows = await service.list_tasks(
        session, provider_id=provider_id, where=where, near=place, after=page.after, limit=page.size
    )
    full = len(rows) == page.size and place is None
    links = page.links(rows[-1][0].task_id if full else None) if place is None else {}
    return TaskPage(data=[_read(t, d) for t, d in rows], links=links, cursor=None)


@router.post(
    "/tasks",
    operation_id="v1_create_task",
    summary="Open a task by hand",
    response_model=TaskRead,
    status_code=201,
)
async def create_task(
    session: SessionDep,
    principal: Manager,
    body: TaskCreate,
    request: Request,
    background: BackgroundTasks,
) -> TaskRead:
    """A vehicle task at the given place (or, without one, none yet); a place task at its place."""
    changed = await service.create_task(
        session,
        provider_id=_provider(principal),
        new=NewTask(
            kind=body.kind,
            device_id=body.device_id,
            lat=body.place.lat if body.place else None,
            lng=body.place.lng if body.place else None,
            priority=body.priority,
            due_at=body.due_at,
            note=body.note,
        ),
        actor=principal.key_id,
        now=datetime.now(UTC),
    )
    _publish(request, background, [changed])
    return _read(changed.task)


@router.get(
    "/tasks/summary",
    operation_id="v1_task_summary",
    summary="Task counts by kind, state and age",
    response_model=TaskSummary,
)
async def task_summary(session: SessionDep, principal: Reader) -> TaskSummary:
    """For a dashboard: every task by kind and state, the active ones by age."""
    counts = await service.summary(session, provider_id=_provider(principal), now=datetime.now(UTC))
    return TaskSummary.model_validate(counts)


@router.get(
    "/tasks/{task_id}",
    operation_id="v1_get_task",
    summary="One task with its history",
    response_model=TaskDetail,
)
async def get_task(session: SessionDep, principal: Reader, task_id: TaskId) -> TaskDetail:
    """Another provider's task is not found."""
    provider_id = _provider(principal)
    task = await service.get_task(session, provider_id=provider_id, task_id=task_id)
    history = await service.task_history(session, provider_id=provider_id, task_id=task_id)
    return TaskDetail(
        **_read(task).model_dump(),
        history=[TaskChangeRead.model_validate(h, from_attributes=True) for h in history],
    )


@router.patch(
    "/tasks/{task_id}",
    operation_id="v1_update_task",
    summary="Re-prioritise a task or move its due time",
    response_model=TaskRead,
)
async def update_task(
    session: SessionDep,
    principal: Manager,
    task_id: TaskId,
    body: TaskUpdate,
    request: Request,
    background: BackgroundTasks,
) -> TaskRead:
    """Only active tasks change."""
    changed = await service.reprioritise(
        session,
        provider_id=_provider(principal),
        task_id=task_id,
        priority=body.priority,
        due_at=body.due_at,
        actor=principal.key_id,
        now=datetime.now(UTC),
    )
    _publish(request, background, [changed])
    return _read(changed.task)


async def _move(
    session: SessionDep,
    principal: Principal,
    task_id: uuid.UUID,
    move: Move,
    request: Request,
    background: BackgroundTasks,
) -> TaskRead:
    changed = await service.transition(
        session, provider_id=_provider(principal), task_id=task_id, move=move, now=datetime.now(UTC)
    )
    _publish(request, background, [changed])
    return _read(changed.task)


def _agent_route(action: Action, summary: str) -> None:
    async def act(
        session: SessionDep,
        principal: Worker,
        task_id: TaskId,
        request: Request,
        background: BackgroundTasks,
    ) -> TaskRead:
        move = Move(action, _actor(principal), principal.key_id)
        return await _move(session, principal, task_id, move, request, background)

    act.__doc__ = f"{summary}; 409 names the allowed actions when the state forbids it."
    router.post(
        f"/tasks/{{task_id}}/{action.value}",
        operation_id=f"v1_{action.value}_task",
        summary=summary,
        response_model=TaskRead,
        name=f"{action.value}_task",
    )(act)


_agent_route(Action.CLAIM, "Claim an open task for oneself")
_agent_route(Action.START, "Start work on a task one holds")
_agent_route(Action.RELEASE, "Give a task back to the open pool")


@router.post(
    "/tasks/{task_id}/complete",
    operation_id="v1_complete_task",
    summary="Finish a task in progress, with a note and one's position",
    response_model=TaskRead,
)
async def complete_task(
    session: SessionDep,
    principal: Worker,
    task_id: TaskId,
    request: Request,
    background: BackgroundTasks,
    body: TaskComplete | None = None,
) -> TaskRead:
    """The note and position go into the task's history."""
    given = body or TaskComplete()
    place = Place(given.position.lat, given.position.lng) if given.position else None
    move = Move(
        Action.COMPLETE, _actor(principal), principal.key_id, note=given.note, position=place
    )
    return await _move(session, principal, task_id, move, request, background)


@router.post(
    "/tasks/{task_id}/assign",
    operation_id="v1_assign_task",
    summary="Give a task to an agent",
    response_model=TaskRead,
)
async def assign_task(
    session: SessionDep,
    principal: Manager,
    task_id: TaskId,
    body: TaskAssign,
    request: Request,
    background: BackgroundTasks,
) -> TaskRead:
    """Open or assigned tasks only; the assignee is an agent's key id."""
    move = Move(Action.ASSIGN, Actor.MANAGER, principal.key_id, assignee=body.assignee)
    return await _move(session, principal, task_id, move, request, background)


@router.post(
    "/tasks/{task_id}/cancel",
    operation_id="v1_cancel_task",
    summary="Cancel an active task",
    response_model=TaskRead,
)
async def cancel_task(
    session: SessionDep,
    principal: Manager,
    task_id: TaskId,
    request: Request,
    background: BackgroundTasks,
) -> TaskRead:
    """A cancelled task is closed by the manager who cancelled it."""
    move = Move(Action.CANCEL, Actor.MANAGER, principal.key_id)
    return await _move(session, principal, task_id, move, request, background)
