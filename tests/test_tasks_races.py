"""Races on committed data, each side in its own transaction: two claims of one task, two
batches opening the same task, pollers and the ingest's view of active tasks against
changes that commit late."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.auth import Mode, Role
from app.core.errors import StateConflict
from app.resources import make_engine
from app.settings import Settings
from fleet.tasks.active import ActiveTasks
from fleet.tasks.cursor import START, ChangeCursor
from fleet.tasks.kinds import TaskKind
from fleet.tasks.models import Task, TaskRuleRecord
from fleet.tasks.rules import Decisions, Opening, TaskRules
from fleet.tasks.service import (
    Move,
    NewTask,
    TaskFilter,
    apply_decisions,
    changed_since,
    create_task,
    put_task_rules,
    reprioritise,
    transition,
)
from fleet.tasks.states import Action, Actor
from fleet.tenancy.models import Provider
from fleet.tenancy.service import create_key, create_provider
from fleet.vehicles.models import Vehicle


@dataclass(frozen=True)
class Committed:
    """A provider with a vehicle and two agent keys, committed."""

    sessions: async_sessionmaker[AsyncSession]
    provider_id: uuid.UUID
    device_id: uuid.UUID
    agents: tuple[str, str]


@pytest.fixture
async def committed(settings: Settings) -> AsyncIterator[Committed]:
    engine = make_engine(settings)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions.begin() as s:
        provider = await create_provider(
            s, name=f"race-{uuid.uuid4().hex[:12]}", mode=Mode.MICROMOBILITY
        )
        device_id = uuid.uuid4()
        s.add(
            Vehicle(
                provider_id=provider.provider_id,
                device_id=device_id,
                vehicle_id="RACE-1",
                vehicle_type="scooter_standing",
                record={},
            )
        )
        keys = [
            await create_key(s, role=Role.FIELD_AGENT, provider_id=provider.provider_id)
            for _ in range(2)
        ]
    try:
        yield Committed(sessions, provider.provider_id, device_id, (keys[0].key_id, keys[1].key_id))
    finally:
        async with sessions.begin() as s:
            await s.execute(delete(Task).where(Task.provider_id == provider.provider_id))
            await s.execute(
                delete(TaskRuleRecord).where(TaskRuleRecord.provider_id == provider.provider_id)
            )
            await s.execute(delete(Provider).where(Provider.provider_id == provider.provider_id))
        await engine.dispose()


async def test_of_two_concurrent_claims_exactly_one_wins(committed: Committed) -> None:
    c = committed
    now = datetime.now(UTC)
    async with c.sessions.begin() as s:
        new = NewTask(TaskKind.INSPECT, c.device_id, 56.04, 12.69, 1, None, None)
        task_id = (
            await create_task(s, provider_id=c.provider_id, new=new, actor="m", now=now)
        ).task.task_id

    async def claim(agent: str) -> str:
        async with c.sessions.begin() as s:
            move = Move(Action.CLAIM, Actor.AGENT, agent)
            await transition(s, provider_id=c.provider_id, task_id=task_id, move=move, now=now)
        return agent

    results = await asyncio.gather(*(claim(a) for a in c.agents), return_exceptions=True)
    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if isinstance(r, StateConflict)]
    assert len(winners) == 1, results
    assert len(losers) == 1, results
    assert losers[0].allowed == ["start", "release"]
    async with c.sessions.begin() as s:
        task = await s.get(Task, task_id)
        assert task is not None
        assert task.assignee == winners[0]
        assert task.state == "assigned"


async def test_two_concurrent_batches_open_one_task(committed: Committed) -> None:
    c = committed
    now = datetime.now(UTC)
    opening = Opening(str(c.device_id), TaskKind.BATTERY_SWAP, 56.0, 12.7, 1, now, "battery 5 %")

    async def batch() -> int:
        async with c.sessions.begin() as s:
            changed = await apply_decisions(
                s,
                provider_id=c.provider_id,
                decisions=Decisions([opening], []),
                now=now,
                active={},
            )
        return len(changed)

    opened = await asyncio.gather(batch(), batch())
    assert sorted(opened) == [0, 1]
    async with c.sessions.begin() as s:
        count = await s.scalar(
            select(func.count()).where(
                Task.provider_id == c.provider_id, Task.kind == "battery_swap"
            )
        )
    assert count == 1


async def test_a_change_that_commits_late_is_not_skipped_by_a_poller(committed: Committed) -> None:
    c = committed
    now = datetime.now(UTC)
    async with c.sessions.begin() as s:
        first, second = [
            (await create_task(s, provider_id=c.provider_id, new=new, actor="m", now=now)).task
            for new in (
                NewTask(TaskKind.INSPECT, c.device_id, 56.04, 12.69, 1, None, None),
                NewTask(TaskKind.RELOCATE, c.device_id, 56.04, 12.69, 1, None, None),
            )
        ]

    async def poll(cursor: ChangeCursor) -> tuple[list[tuple[uuid.UUID, int]], ChangeCursor]:
        async with c.sessions() as s:
            found = await changed_since(
                s,
                provider_id=c.provider_id,
                where=TaskFilter(),
                cursor=cursor,
                changed_after=None,
                limit=50,
            )
        seen = [(t.task_id, t.priority) for t in found]
        return seen, (ChangeCursor(found[-1].change_tx, found[-1].change_seq) if found else cursor)

    created, cursor = await poll(START)
    assert [task_id for task_id, _ in created] == [first.task_id, second.task_id]

    async def bump(s: AsyncSession, task_id: uuid.UUID) -> None:
        await reprioritise(
            s,
            provider_id=c.provider_id,
            task_id=task_id,
            priority=3,
            due_at=None,
            actor="m",
            now=datetime.now(UTC),
        )

    # The first change takes its number, then commits after a later change committed.
    async with c.sessions() as slow:
        async with slow.begin():
            await bump(slow, first.task_id)
            async with c.sessions.begin() as fast:
                await bump(fast, second.task_id)
            meanwhile, cursor = await poll(cursor)
        after, cursor = await poll(cursor)
    assert sorted(meanwhile + after) == sorted([(first.task_id, 3), (second.task_id, 3)])
    assert (await poll(cursor))[0] == []


async def test_the_ingest_view_of_active_tasks_follows_commits_in_their_order(
    committed: Committed,
) -> None:
    c = committed
    view = ActiveTasks(page=1)
    device = str(c.device_id)

    async def seen() -> tuple[TaskRules, dict[tuple[str, str], uuid.UUID]]:
        async with c.sessions() as s:
            rules, active = await view.current(s, provider_id=c.provider_id)
        return rules, dict(active)

    async def open_task(s: AsyncSession, kind: TaskKind) -> uuid.UUID:
        new = NewTask(kind, c.device_id, 56.04, 12.69, 1, None, None)
        changed = await create_task(
            s, provider_id=c.provider_id, new=new, actor="m", now=datetime.now(UTC)
        )
        return changed.task.task_id

    assert await seen() == (TaskRules(), {})
    async with c.sessions.begin() as s:
        inspect = await open_task(s, TaskKind.INSPECT)
        relocate = await open_task(s, TaskKind.RELOCATE)
    # Two changes, read a page of one at a time.
    assert (await seen())[1] == {(device, "inspect"): inspect, (device, "relocate"): relocate}

    # The swap takes its transaction first and commits after the collection did.
    async with c.sessions() as slow:
        async with slow.begin():
            swap = await open_task(slow, TaskKind.BATTERY_SWAP)
            async with c.sessions.begin() as fast:
                collect = await open_task(fast, TaskKind.COLLECT_FOR_REPAIR)
            meanwhile = (await seen())[1]
        after = (await seen())[1]
    assert (device, "battery_swap") not in meanwhile
    assert after == {
        (device, "inspect"): inspect,
        (device, "relocate"): relocate,
        (device, "battery_swap"): swap,
        (device, "collect_for_repair"): collect,
    }

    async with c.sessions.begin() as s:
        move = Move(Action.CANCEL, Actor.MANAGER, "m")
        await transition(
            s, provider_id=c.provider_id, task_id=inspect, move=move, now=datetime.now(UTC)
        )
        await put_task_rules(
            s, provider_id=c.provider_id, rules=TaskRules(battery_below_percent=35), actor="m"
        )
    rules, active = await seen()
    assert rules.battery_below_percent == 35
    assert (device, "inspect") not in active
    assert set(active) == {(device, k) for k in ("relocate", "battery_swap", "collect_for_repair")}
