"""Tasks in the database: opened by rules or people, moved through their states, listed."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, literal_column, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import ColumnClause

from app.core.auth import Role
from app.core.errors import Conflict, InvalidInput, NotFound, StateConflict
from fleet.tasks.cursor import ChangeCursor
from fleet.tasks.kinds import TaskKind
from fleet.tasks.models import PLACE_SQL, Task, TaskChange, TaskRuleRecord
from fleet.tasks.rules import Decisions, TaskRules, silent_vehicle
from fleet.tasks.states import (
    ACTIVE,
    Action,
    Actor,
    TaskState,
    allowed_actions,
    may,
    target_of,
)
from fleet.tenancy.models import ApiKey
from fleet.vehicles.models import Vehicle

SYSTEM = "system"
_ACTIVE = [s.value for s in ACTIVE]
_COLUMNS = ", ".join(c.name for c in Task.__table__.columns)

# Open-if-absent for a whole batch: the partial unique index drops a second active task of
# a kind for a vehicle, also when two batches race.
_OPEN = text(
    f"""
    INSERT INTO tasks (task_id, provider_id, kind, device_id, lat, lng, priority, due_at,
                       state, created_by, created_at, updated_at)
    SELECT gen_random_uuid(), :provider_id, q.kind, q.device_id, q.lat, q.lng, q.priority,
           q.due_at, 'open', 'system', :now, :now
    FROM unnest(CAST(:devices AS uuid[]), CAST(:kinds AS text[]), CAST(:lats AS float8[]),
                CAST(:lngs AS float8[]), CAST(:priorities AS int[]),
                CAST(:dues AS timestamptz[]), CAST(:reasons AS text[]))
         AS q(device_id, kind, lat, lng, priority, due_at, reason)
    ON CONFLICT (provider_id, device_id, kind)
        WHERE state IN ('open', 'assigned', 'in_progress') DO NOTHING
    RETURNING {_COLUMNS}
    """  # noqa: S608 (constants only)
)

# Close what the data shows is solved, unless it stopped being active meanwhile; `old`
# keeps the state each task was in.
_RESOLVE = text(
    f"""
    WITH old AS (
        SELECT t.task_id, t.state AS from_state, q.reason
        FROM tasks t
        JOIN unnest(CAST(:task_ids AS uuid[]), CAST(:reasons AS text[])) AS q(task_id, reason)
          ON t.task_id = q.task_id
        WHERE t.state IN ('open', 'assigned', 'in_progress')
        FOR UPDATE OF t
    )
    UPDATE tasks t SET state = 'done', closed_by = 'system', closed_reason = old.reason,
           closed_at = :now, updated_at = :now
    FROM old
    WHERE t.task_id = old.task_id
    RETURNING {", ".join(f"t.{c.name}" for c in Task.__table__.columns)}, old.from_state
    """  # noqa: S608 (constants only)
)


# Overdue tasks nobody works on expire; `old` keeps the state each was in.
_EXPIRE = text(
    f"""
    WITH old AS (
        SELECT task_id, state AS from_state FROM tasks
        WHERE state IN ('open', 'assigned') AND due_at < :now
        ORDER BY due_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE tasks t SET state = 'expired', closed_by = 'system', closed_reason = 'overdue',
           closed_at = :now, updated_at = :now
    FROM old
    WHERE t.task_id = old.task_id
    RETURNING {", ".join(f"t.{c.name}" for c in Task.__table__.columns)}, old.from_state
    """  # noqa: S608 (constants only)
)

# Vehicles whose newest point is older than their provider's `inspect_after_hours` and
# that have no active inspection; the newest point per vehicle comes from the primary key.
_SILENT = text(
    """
    SELECT v.provider_id, v.device_id, last.lat, last.lng
    FROM vehicles v
    LEFT JOIN task_rules r ON r.provider_id = v.provider_id
    JOIN LATERAL (
        SELECT t.lat, t.lng, t.recorded_at FROM telemetry t
        WHERE t.provider_id = v.provider_id AND t.device_id = v.device_id
        ORDER BY t.recorded_at DESC LIMIT 1
    ) last ON true
    WHERE last.recorded_at < CAST(:now AS timestamptz) - make_interval(
              hours => COALESCE((r.rules ->> 'inspect_after_hours')::int,
                                CAST(:default_hours AS int)))
      AND NOT EXISTS (
        SELECT 1 FROM tasks k
        WHERE k.provider_id = v.provider_id AND k.device_id = v.device_id
          AND k.kind = 'inspect' AND k.state IN ('open', 'assigned', 'in_progress'))
    ORDER BY v.provider_id
    LIMIT :limit
    """
)


@dataclass(frozen=True)
class Changed:
    """A task as it is after a change, and the change, for the stream after the commit."""

    task: Task
    change: TaskChange


@dataclass(frozen=True)
class NewTask:
    """What a manager gives to open a task."""

    kind: TaskKind
    device_id: uuid.UUID | None
    lat: float | None
    lng: float | None
    priority: int
    due_at: datetime | None
    note: str | None


@dataclass(frozen=True)
class Place:
    """A position on the ground."""

    lat: float
    lng: float


@dataclass(frozen=True)
class TaskFilter:
    """What a task list is narrowed to."""

    kind: TaskKind | None = None
    state: TaskState | None = None
    device_id: uuid.UUID | None = None
    assignee: str | None = None
    plan_id: uuid.UUID | None = None


def _task_of(row: Any) -> Task:
    return Task(**{c.name: getattr(row, c.name) for c in Task.__table__.columns})


async def _record(
    session: AsyncSession,
    *,
    changes: Sequence[tuple[Task, str, str, str | None, dict[str, Any]]],
    now: datetime,
) -> list[Changed]:
    """Write history rows (task, actor, action, from state, details) for tasks just changed."""
    if not changes:
        return []
    rows = [
        {
            "task_id": task.task_id,
            "at": now,
            "actor": actor,
            "action": action,
            "from_state": from_state,
            "to_state": task.state,
            "details": details,
        }
        for task, actor, action, from_state, details in changes
    ]
    ids = (
        await session.execute(
            insert(TaskChange).returning(TaskChange.change_id, sort_by_parameter_order=True), rows
        )
    ).scalars()
    return [
        Changed(task, TaskChange(change_id=i, **row))
        for (task, *_), row, i in zip(changes, rows, ids, strict=True)
    ]


def rules_from(stored: Mapping[str, Any] | None) -> TaskRules:
    """Task rules from their stored JSON; the defaults when none are stored."""
    if stored is None:
        return TaskRules()
    # A setting a later version added, or one it dropped, leaves the others in force.
    known = {f.name for f in fields(TaskRules)}
    return TaskRules(**{k: v for k, v in stored.items() if k in known})


async def task_rules(session: AsyncSession, *, provider_id: uuid.UUID) -> TaskRules:
    """The provider's task rules, or the defaults."""
    stored = await session.get(TaskRuleRecord, provider_id)
    return rules_from(None if stored is None else stored.rules)


async def put_task_rules(
    session: AsyncSession, *, provider_id: uuid.UUID, rules: TaskRules, actor: str
) -> TaskRules:
    """Replace the provider's task rules."""
    stored = await session.get(TaskRuleRecord, provider_id)
    values = {
        **asdict(rules),
        "battery_below_by_vehicle_type": dict(rules.battery_below_by_vehicle_type),
    }
    if stored is None:
        session.add(TaskRuleRecord(provider_id=provider_id, rules=values, updated_by=actor))
    else:
        stored.rules, stored.updated_by, stored.updated_at = values, actor, func.now()
    await session.flush()
    return rules


async def apply_decisions(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    decisions: Decisions,
    now: datetime,
    active: Mapping[tuple[str, str], uuid.UUID],
) -> list[Changed]:
    """Open and close what the rules decided.

    `active` holds the caller's view of the active tasks by (vehicle, kind): only
    openings where it has none and closings of the tasks it names are written. The
    unique index drops an opening a newer view would have known of; a closing re-checks
    the task's state under a row lock.
    """
    if not (decisions.opening or decisions.closing):
        return []
    changes: list[tuple[Task, str, str, str | None, dict[str, Any]]] = []
    opening = [x for x in decisions.opening if (x.device_id, x.kind.value) not in active]
    if opening:
        reasons = {(x.device_id, x.kind.value): x.reason for x in opening}
        rows = await session.execute(
            _OPEN,
            {
                "provider_id": provider_id,
                "now": now,
                "devices": [uuid.UUID(x.device_id) for x in opening],
                "kinds": [x.kind.value for x in opening],
                "lats": [x.lat for x in opening],
                "lngs": [x.lng for x in opening],
                "priorities": [x.priority for x in opening],
                "dues": [x.due_at for x in opening],
                "reasons": [x.reason for x in opening],
            },
        )
        for row in rows:
            task = _task_of(row)
            reason = reasons[(str(task.device_id), task.kind)]
            changes.append((task, SYSTEM, "open", None, {"reason": reason}))
    closing = [
        (task_id, x.reason)
        for x in decisions.closing
        if (task_id := active.get((x.device_id, x.kind.value))) is not None
    ]
    if closing:
        rows = await session.execute(
            _RESOLVE,
            {
                "now": now,
                "task_ids": [task_id for task_id, _ in closing],
                "reasons": [reason for _, reason in closing],
            },
        )
        for row in rows:
            task = _task_of(row)
            details = {"reason": task.closed_reason}
            changes.append((task, SYSTEM, Action.RESOLVE.value, row.from_state, details))
    return await _record(session, changes=changes, now=now)


async def expire_overdue(session: AsyncSession, *, now: datetime, limit: int) -> list[Changed]:
    """Expire up to `limit` open or assigned tasks past their due time; work in progress
    is left to the agent doing it."""
    rows = await session.execute(_EXPIRE, {"now": now, "limit": limit})
    changes = [
        (task, SYSTEM, Action.EXPIRE.value, row.from_state, {"due_at": _iso(task.due_at)})
        for row in rows
        for task in [_task_of(row)]
    ]
    return await _record(session, changes=changes, now=now)


async def inspect_silent(session: AsyncSession, *, now: datetime, limit: int) -> list[Changed]:
    """Open an inspection at the last known position of each vehicle gone silent."""
    found = await session.execute(
        _SILENT,
        {"now": now, "default_hours": TaskRules().inspect_after_hours, "limit": limit},
    )
    by_provider: dict[uuid.UUID, list[Any]] = {}
    for row in found:
        by_provider.setdefault(row.provider_id, []).append(row)
    changed: list[Changed] = []
    for provider_id, rows in by_provider.items():
        rules = await task_rules(session, provider_id=provider_id)
        opening = [silent_vehicle(str(r.device_id), r.lat, r.lng, rules, now) for r in rows]
        # The query left out vehicles with an active inspection; one opened since is
        # dropped by the unique index.
        changed += await apply_decisions(
            session,
            provider_id=provider_id,
            decisions=Decisions(opening, []),
            now=now,
            active={},
        )
    return changed


async def create_task(
    session: AsyncSession, *, provider_id: uuid.UUID, new: NewTask, actor: str, now: datetime
) -> Changed:
    """Open a task by hand; a second active task of a kind for one vehicle is a conflict."""
    if new.device_id is not None:
        owned = await session.get(Vehicle, (provider_id, new.device_id))
        if owned is None:
            raise NotFound(f"no vehicle {new.device_id}")
        clash = await session.scalar(
            select(Task.task_id).where(
                Task.provider_id == provider_id,
                Task.device_id == new.device_id,
                Task.kind == new.kind.value,
                Task.state.in_(_ACTIVE),
            )
        )
        if clash is not None:
            raise Conflict(f"the vehicle has an active {new.kind.value} task already: {clash}")
    task = Task(
        task_id=uuid.uuid4(),
        provider_id=provider_id,
        kind=new.kind.value,
        device_id=new.device_id,
        lat=new.lat,
        lng=new.lng,
        priority=new.priority,
        due_at=new.due_at,
        state=TaskState.OPEN.value,
        created_by=actor,
        note=new.note,
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    await session.flush()
    (changed,) = await _record(session, changes=[(task, actor, "open", None, {})], now=now)
    return changed


@dataclass(frozen=True)
class PlannedTask:
    """One task of a dispatched plan: a pickup of a vehicle or a drop-off at a place."""

    new: NewTask
    assignee: str | None
    plan_stop: int
    quantity: int | None = None


async def open_planned(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    plan_id: uuid.UUID,
    planned: Sequence[PlannedTask],
    actor: str,
    now: datetime,
) -> list[Changed]:
    """Open a plan's tasks, assigned to its vans' agents; a vehicle that already has an
    active task of the kind is a conflict naming the vehicles, and nothing is opened."""
    devices = [p.new.device_id for p in planned if p.new.device_id is not None]
    clashes = (
        await session.scalars(
            select(Task.device_id).where(
                Task.provider_id == provider_id,
                Task.device_id.in_(devices),
                Task.kind.in_({p.new.kind.value for p in planned}),
                Task.state.in_(_ACTIVE),
            )
        )
    ).all()
    if clashes:
        names = ", ".join(sorted(str(d) for d in clashes))
        raise Conflict(f"vehicles with an active task of the plan's kind already: {names}")
    for agent in {p.assignee for p in planned if p.assignee is not None}:
        await _check_assignee(session, provider_id=provider_id, key_id=agent)
    tasks = [_planned_task(provider_id, plan_id, p, actor, now) for p in planned]
    session.add_all(tasks)
    await session.flush()
    details = {"plan_id": str(plan_id)}
    return await _record(
        session,
        changes=[(t, actor, "open", None, {**details, "plan_stop": t.plan_stop}) for t in tasks],
        now=now,
    )


def _planned_task(
    provider_id: uuid.UUID, plan_id: uuid.UUID, p: PlannedTask, actor: str, now: datetime
) -> Task:
    state = TaskState.OPEN if p.assignee is None else TaskState.ASSIGNED
    return Task(
        task_id=uuid.uuid4(),
        provider_id=provider_id,
        kind=p.new.kind.value,
        device_id=p.new.device_id,
        lat=p.new.lat,
        lng=p.new.lng,
        priority=p.new.priority,
        due_at=p.new.due_at,
        state=state.value,
        assignee=p.assignee,
        created_by=actor,
        note=p.new.note,
        created_at=now,
        updated_at=now,
        plan_id=plan_id,
        plan_stop=p.plan_stop,
        quantity=p.quantity,
    )


async def get_task(session: AsyncSession, *, provider_id: uuid.UUID, task_id: uuid.UUID) -> Task:
    """One of the provider's tasks; another provider's is not found."""
    task = await session.scalar(
        select(Task).where(Task.task_id == task_id, Task.provider_id == provider_id)
    )
    if task is None:
        raise NotFound(f"no task {task_id}")
    return task


async def task_history(
    session: AsyncSession, *, provider_id: uuid.UUID, task_id: uuid.UUID
) -> Sequence[TaskChange]:
    """Every change of one of the provider's tasks, oldest first."""
    await get_task(session, provider_id=provider_id, task_id=task_id)
    query = select(TaskChange).where(TaskChange.task_id == task_id)
    return (await session.execute(query.order_by(TaskChange.change_id))).scalars().all()


async def may_hold_tasks(
    session: AsyncSession, *, provider_id: uuid.UUID, key_id: str | None
) -> bool:
    """Whether tasks can go to the key: a live agent or manager key of the provider."""
    found = await session.scalar(
        select(ApiKey.key_id).where(
            ApiKey.key_id == key_id,
            ApiKey.provider_id == provider_id,
            ApiKey.revoked_at.is_(None),
            ApiKey.role.in_([Role.FIELD_AGENT.value, Role.OPERATOR_MANAGER.value]),
        )
    )
    return found is not None


async def _check_assignee(
    session: AsyncSession, *, provider_id: uuid.UUID, key_id: str | None
) -> None:
    """Tasks go to live agent or manager keys of the task's own provider."""
    if not await may_hold_tasks(session, provider_id=provider_id, key_id=key_id):
        raise InvalidInput(f"no agent key {key_id} of this provider", fields=("assignee",))


def _refused(detail: str, allowed: Sequence[Action]) -> StateConflict:
    return StateConflict(detail, allowed=[a.value for a in allowed])


@dataclass(frozen=True)
class Move:
    """An action on a task, by whom, with what it carries."""

    action: Action
    actor: Actor
    principal: str
    assignee: str | None = None
    note: str | None = None
    position: Place | None = None


async def transition(
    session: AsyncSession, *, provider_id: uuid.UUID, task_id: uuid.UUID, move: Move, now: datetime
) -> Changed:
    """Take an action on a task under a row lock, so of two racing claims exactly one wins."""
    task = await session.scalar(
        select(Task)
        .where(Task.task_id == task_id, Task.provider_id == provider_id)
        .with_for_update()
    )
    if task is None:
        raise NotFound(f"no task {task_id}")
    state = TaskState(task.state)
    allowed = allowed_actions(state, move.actor)
    if not may(move.actor, move.action, state):
        names = ", ".join(a.value for a in allowed) or "none"
        raise _refused(
            f"cannot {move.action.value} a task that is {state.value}; allowed: {names}",
            allowed,
        )
    held_by_other = task.assignee is not None and task.assignee != move.principal
    if move.actor is Actor.AGENT and move.action is not Action.CLAIM and held_by_other:
        raise _refused(f"the task is held by {task.assignee}; allowed: none", [])
    details: dict[str, Any] = {}
    target = target_of(move.action)
    if move.action is Action.CLAIM:
        task.assignee = move.principal
    elif move.action is Action.ASSIGN:
        await _check_assignee(session, provider_id=provider_id, key_id=move.assignee)
        details["assignee"] = {"from": task.assignee, "to": move.assignee}
        task.assignee = move.assignee
    elif move.action is Action.RELEASE:
        details["assignee"] = {"from": task.assignee, "to": None}
        task.assignee = None
    if move.note is not None:
        details["note"] = move.note
        task.note = move.note
    if move.position is not None:
        details["position"] = {"lat": move.position.lat, "lng": move.position.lng}
    if target not in ACTIVE:
        task.closed_by, task.closed_at = move.principal, now
    task.state, task.updated_at = target.value, now
    await session.flush()
    (changed,) = await _record(
        session,
        changes=[(task, move.principal, move.action.value, state.value, details)],
        now=now,
    )
    return changed


async def reprioritise(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    task_id: uuid.UUID,
    priority: int | None,
    due_at: datetime | None,
    actor: str,
    now: datetime,
) -> Changed:
    """Change an active task's priority or due time."""
    task = await session.scalar(
        select(Task)
        .where(Task.task_id == task_id, Task.provider_id == provider_id)
        .with_for_update()
    )
    if task is None:
        raise NotFound(f"no task {task_id}")
    if task.state not in _ACTIVE:
        raise _refused(f"the task is {task.state}; allowed: none", [])
    details: dict[str, Any] = {}
    if priority is not None:
        details["priority"] = {"from": task.priority, "to": priority}
        task.priority = priority
    if due_at is not None:
        details["due_at"] = {"from": _iso(task.due_at), "to": due_at.isoformat()}
        task.due_at = due_at
    task.updated_at = now
    await session.flush()
    (changed,) = await _record(
        session, changes=[(task, actor, "update", task.state, details)], now=now
    )
    return changed


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def _place(lat: float, lng: float) -> Any:
    return func.geography(func.ST_SetSRID(func.ST_MakePoint(lng, lat), 4326))


_TASK_PLACE: ColumnClause[Any] = literal_column(PLACE_SQL)


async def list_tasks(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    where: TaskFilter,
    near: Place | None,
    after: uuid.UUID | None,
    limit: int,
) -> list[tuple[Task, float | None]]:
    """Tasks with their distance from `near` (metres): nearest first then most urgent;
    without `near`, by id from the cursor on."""
    query = _filtered(select(Task).where(Task.provider_id == provider_id), where)
    if near is None:
        if after is not None:
            query = query.where(Task.task_id > after)
        found = (await session.execute(query.order_by(Task.task_id).limit(limit))).scalars()
        return [(t, None) for t in found]
    here = _place(near.lat, near.lng)
    distance = func.ST_Distance(_TASK_PLACE, here).label("distance_m")
    ordered = query.add_columns(distance).order_by(
        _TASK_PLACE.op("<->")(here), Task.priority.desc(), Task.task_id
    )
    return [(t, d) for t, d in (await session.execute(ordered.limit(limit))).all()]


def _filtered(query: Any, where: TaskFilter) -> Any:
    if where.kind is not None:
        query = query.where(Task.kind == where.kind.value)
    if where.state is not None:
        query = query.where(Task.state == where.state.value)
    if where.device_id is not None:
        query = query.where(Task.device_id == where.device_id)
    if where.assignee is not None:
        query = query.where(Task.assignee == where.assignee)
    if where.plan_id is not None:
        query = query.where(Task.plan_id == where.plan_id)
    return query


async def changed_since(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    where: TaskFilter,
    cursor: ChangeCursor | None,
    changed_after: datetime | None,
    limit: int,
) -> Sequence[Task]:
    """Tasks changed after a cursor or a time, in the order of their changes.

    Only changes of transactions that have ended are given (and the reader's own): a
    transaction still running may commit a change that sorts before the ones it would
    otherwise skip past, so its changes wait for the next poll.
    """
    query = _filtered(select(Task).where(Task.provider_id == provider_id), where)
    query = query.where(
        or_(
            Task.change_tx < func.pg_snapshot_xmin(func.pg_current_snapshot()),
            Task.change_tx == func.pg_current_xact_id_if_assigned(),
        )
    )
    if cursor is not None:
        query = query.where(tuple_(Task.change_tx, Task.change_seq) > (cursor.tx, cursor.seq))
    if changed_after is not None:
        query = query.where(Task.updated_at > changed_after)
    found = await session.execute(query.order_by(Task.change_tx, Task.change_seq).limit(limit))
    return list(found.scalars().all())


# Ages of active tasks, as (label, lower bound in hours) from the youngest up.
AGE_BUCKETS = (("under_1h", 0), ("1h_to_6h", 1), ("6h_to_24h", 6), ("over_24h", 24))


async def summary(
    session: AsyncSession, *, provider_id: uuid.UUID, now: datetime
) -> dict[str, dict[str, int]]:
    """Counts by kind and state of every task, and by age of the active ones."""
    mine = Task.provider_id == provider_id
    by_kind = await session.execute(
        select(Task.kind, Task.state, func.count()).where(mine).group_by(Task.kind, Task.state)
    )
    kinds: dict[str, int] = {k.value: 0 for k in TaskKind}
    states: dict[str, int] = {s.value: 0 for s in TaskState}
    for kind, state, count in by_kind:
        kinds[kind] += count
        states[state] += count
    limits = [now - timedelta(hours=h) for _, h in AGE_BUCKETS]
    counts = [
        func.count().filter(Task.created_at <= upper, *([Task.created_at > lower] if lower else []))
        for upper, lower in zip(limits, [*limits[1:], None], strict=True)
    ]
    aged = (await session.execute(select(*counts).where(mine, Task.state.in_(_ACTIVE)))).one()
    ages = {label: int(n) for (label, _), n in zip(AGE_BUCKETS, aged, strict=True)}
    return {"by_kind": kinds, "by_state": states, "active_by_age": ages}


def stream_entry(changed: Changed) -> dict[str, str]:
    """A task change as flat strings for the Redis stream."""
    task, change = changed.task, changed.change
    return {
        "task_id": str(task.task_id),
        "provider_id": str(task.provider_id),
        "kind": task.kind,
        "device_id": str(task.device_id) if task.device_id else "",
        "action": change.action,
        "from_state": change.from_state or "",
        "to_state": change.to_state,
        "actor": change.actor,
        "change_seq": str(task.change_seq),
        "at": change.at.isoformat(),
    }


async def holds_task_for(
    session: AsyncSession, *, provider_id: uuid.UUID, device_id: uuid.UUID, holder: str
) -> bool:
    """Whether the key `holder` holds (assigned or in progress) a task of the vehicle."""
    query = select(Task.task_id).where(
        Task.provider_id == provider_id,
        Task.device_id == device_id,
        Task.assignee == holder,
        Task.state.in_((TaskState.ASSIGNED, TaskState.IN_PROGRESS)),
    )
    return (await session.scalars(query.limit(1))).first() is not None
