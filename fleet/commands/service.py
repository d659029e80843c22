"""Storing, handing out, acking and expiring commands (flush only)."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, NotFound
from fleet.commands.models import Command, CommandChange
from fleet.commands.schemas import CommandCreate
from fleet.commands.states import FINAL, Ack, CommandState, IllegalAck, after_ack
from fleet.vehicles.models import Vehicle

SYSTEM = "system"
_UNFINISHED = [s.value for s in CommandState if s not in FINAL]


@dataclass(frozen=True)
class Change:
    """A change of a command's state, as recorded and as announced on the stream."""

    command_id: uuid.UUID
    provider_id: uuid.UUID
    device_id: uuid.UUID
    kind: str
    from_state: str | None
    to_state: str
    actor: str
    at: datetime
    message: str | None = None

    def stream_entry(self) -> dict[str, str]:
        """The change as flat strings for the Redis stream."""
        return {
            "command_id": str(self.command_id),
            "provider_id": str(self.provider_id),
            "device_id": str(self.device_id),
            "kind": self.kind,
            "from": self.from_state or "",
            "to": self.to_state,
            "actor": self.actor,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True)
class CommandView:
    """A command with its history, oldest change first."""

    command: Command
    history: Sequence[CommandChange]


@dataclass(frozen=True)
class CommandPage:
    """A page of a vehicle's commands, newest first; `next_after` the next page's cursor."""

    commands: list[CommandView]
    next_after: uuid.UUID | None


def _move(
    command: Command, to: CommandState, *, actor: str, now: datetime, message: str | None
) -> Change:
    change = Change(
        command.command_id,
        command.provider_id,
        command.device_id,
        command.kind,
        command.state,
        to.value,
        actor,
        now,
        message,
    )
    command.state = to.value
    command.updated_at = now
    return change


def _record(session: AsyncSession, *, changes: Sequence[Change]) -> None:
    session.add_all(
        CommandChange(
            command_id=c.command_id,
            at=c.at,
            actor=c.actor,
            from_state=c.from_state,
            to_state=c.to_state,
            message=c.message,
        )
        for c in changes
    )


def _same_request(command: Command, device_id: uuid.UUID, request: CommandCreate) -> bool:
    return (
        command.device_id == device_id
        and command.kind == request.kind.value
        and command.params == request.params_dict()
        and command.ttl_s == request.expires_in_s
    )


async def create_command(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    device_id: uuid.UUID,
    request: CommandCreate,
    issued_by: str,
    now: datetime,
) -> tuple[CommandView, list[Change]]:
    """Store a pending command; a repeated `command_id` with the same request returns the
    stored command (no changes), with a different one is a Conflict."""
    owned = exists().where(Vehicle.provider_id == provider_id, Vehicle.device_id == device_id)
    if not await session.scalar(select(owned)):
        raise NotFound(f"vehicle {device_id} not found")
    values: dict[str, Any] = {
        "command_id": uuid.uuid4(),
        "provider_id": provider_id,
        "device_id": device_id,
        "client_id": request.command_id,
        "kind": request.kind.value,
        "params": request.params_dict(),
        "state": CommandState.PENDING.value,
        "issued_by": issued_by,
        "ttl_s": request.expires_in_s,
        "created_at": now,
        "expires_at": now + timedelta(seconds=request.expires_in_s),
        "updated_at": now,
        "attempts": 0,
    }
    # ON CONFLICT settles two concurrent retries of one command: one inserts, one reads.
    inserted = await session.scalar(
        insert(Command)
        .values(values)
        .on_conflict_do_nothing(index_elements=["provider_id", "client_id"])
        .returning(Command.command_id)
    )
    if inserted is None:
        existing = await session.scalar(
            select(Command).where(
                Command.provider_id == provider_id, Command.client_id == request.command_id
            )
        )
        assert existing is not None
        if not _same_request(existing, device_id, request):
            raise Conflict(
                f"command_id {request.command_id} was used for another command",
                fields=("command_id",),
            )
        return (await _history(session, commands=[existing]))[0], []
    command = await session.get_one(Command, inserted)
    change = Change(
        command.command_id, provider_id, device_id, command.kind, None, "pending", issued_by, now
    )
    _record(session, changes=[change])
    await session.flush()
    return (await _history(session, commands=[command]))[0], [change]


async def issue_from_system(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    device_id: uuid.UUID,
    kind: str,
    params: dict[str, Any],
    ttl_s: int,
    now: datetime,
) -> list[Change]:
    """Store a pending command fleetbed itself sends; unfinished older commands of the same
    kind to the vehicle expire, since the new one supersedes them."""
    older = (
        await session.scalars(
            select(Command)
            .where(
                Command.provider_id == provider_id,
                Command.device_id == device_id,
                Command.kind == kind,
                Command.state.in_(_UNFINISHED),
            )
            .with_for_update()
        )
    ).all()
    changes = [
        _move(c, CommandState.EXPIRED, actor=SYSTEM, now=now, message="superseded") for c in older
    ]
    command = Command(
        command_id=uuid.uuid4(),
        provider_id=provider_id,
        device_id=device_id,
        client_id=None,
        kind=kind,
        params=params,
        state=CommandState.PENDING.value,
        issued_by=SYSTEM,
        ttl_s=ttl_s,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
        updated_at=now,
        attempts=0,
    )
    session.add(command)
    changes.append(
        Change(command.command_id, provider_id, device_id, kind, None, "pending", SYSTEM, now)
    )
    _record(session, changes=changes)
    await session.flush()
    return changes


async def expire_due(
    session: AsyncSession, *, now: datetime, where: Sequence[ColumnElement[bool]] = ()
) -> list[Change]:
    """Mark unfinished commands past their expiry (matching `where`) as expired."""
    due = (
        await session.scalars(
            select(Command)
            .where(Command.state.in_(_UNFINISHED), Command.expires_at <= now, *where)
            .order_by(Command.expires_at)
            .limit(1000)
            .with_for_update(skip_locked=True)
        )
    ).all()
    changes = [
        _move(c, CommandState.EXPIRED, actor=SYSTEM, now=now, message="not finished in time")
        for c in due
    ]
    _record(session, changes=changes)
    return changes


async def _history(session: AsyncSession, *, commands: Sequence[Command]) -> list[CommandView]:
    ids = [c.command_id for c in commands]
    rows = (
        await session.scalars(
            select(CommandChange)
            .where(CommandChange.command_id.in_(ids))
            .order_by(CommandChange.change_id)
        )
    ).all()
    by_command: dict[uuid.UUID, list[CommandChange]] = {i: [] for i in ids}
    for row in rows:
        by_command[row.command_id].append(row)
    return [CommandView(c, by_command[c.command_id]) for c in commands]


async def get_command(
    session: AsyncSession, *, provider_id: uuid.UUID, command_id: uuid.UUID, now: datetime
) -> tuple[CommandView, list[Change]]:
    """One command of `provider_id` with its history, expired first if its time is up;
    another provider's command is NotFound too."""
    mine = (Command.provider_id == provider_id, Command.command_id == command_id)
    changes = await expire_due(session, now=now, where=mine)
    await session.flush()
    command = await session.scalar(select(Command).where(*mine))
    if command is None:
        raise NotFound(f"command {command_id} not found")
    return (await _history(session, commands=[command]))[0], changes


async def list_commands(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    device_id: uuid.UUID,
    limit: int,
    after: uuid.UUID | None,
    now: datetime,
) -> tuple[CommandPage, list[Change]]:
    """A page of a vehicle's commands, newest first, after the cursor `after`."""
    owned = exists().where(Vehicle.provider_id == provider_id, Vehicle.device_id == device_id)
    if not await session.scalar(select(owned)):
        raise NotFound(f"vehicle {device_id} not found")
    device = (Command.provider_id == provider_id, Command.device_id == device_id)
    changes = await expire_due(session, now=now, where=device)
    await session.flush()
    query = select(Command).where(*device)
    if after is not None:
        cursor = select(Command.created_at, Command.command_id).where(
            *device, Command.command_id == after
        )
        mark = (await session.execute(cursor)).one_or_none()
        if mark is None:
            raise NotFound(f"cursor {after} is not a command of this vehicle")
        query = query.where(
            or_(
                Command.created_at < mark[0],
                and_(Command.created_at == mark[0], Command.command_id < mark[1]),
            )
        )
    order = (Command.created_at.desc(), Command.command_id.desc())
    rows = (await session.scalars(query.order_by(*order).limit(limit + 1))).all()
    page = rows[:limit]
    next_after = page[-1].command_id if len(rows) > limit else None
    return CommandPage(await _history(session, commands=page), next_after), changes


async def take_for_delivery(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID | None,
    actor: str,
    now: datetime,
    redeliver_after: timedelta,
    reconnected: bool,
    limit: int,
) -> tuple[list[Command], list[Change]]:
    """Mark as delivered the commands a gateway of `provider_id` (None: of every provider)
    should get now: pending
    ones, and delivered ones without an answer once `redeliver_after` passed or when the
    gateway `reconnected`. Oldest first; rows another poller holds are skipped."""
    unanswered = Command.state == CommandState.DELIVERED.value
    if not reconnected:
        unanswered = and_(unanswered, Command.delivered_at <= now - redeliver_after)
    query = select(Command).where(
        Command.expires_at > now, or_(Command.state == CommandState.PENDING.value, unanswered)
    )
    if provider_id is not None:
        query = query.where(Command.provider_id == provider_id)
    taken = (
        await session.scalars(
            query.order_by(Command.created_at).limit(limit).with_for_update(skip_locked=True)
        )
    ).all()
    changes = []
    for command in taken:
        command.attempts += 1
        command.delivered_at = now
        message = f"attempt {command.attempts}"
        changes.append(
            _move(command, CommandState.DELIVERED, actor=actor, now=now, message=message)
        )
    _record(session, changes=changes)
    return list(taken), changes


async def ack_command(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    command_id: uuid.UUID,
    ack: Ack,
    message: str | None,
    actor: str,
    now: datetime,
    device_id: uuid.UUID | None = None,
) -> tuple[CommandView, list[Change]]:
    """Apply a gateway's ack (to a command of `device_id` when given); a repeated or
    superseded ack changes nothing, one that contradicts the state (or comes after the
    expiry) is a Conflict naming the allowed."""
    mine = [Command.provider_id == provider_id, Command.command_id == command_id]
    if device_id is not None:
        mine.append(Command.device_id == device_id)
    command = await session.scalar(select(Command).where(*mine).with_for_update())
    if command is None:
        raise NotFound(f"command {command_id} not found")
    changes = []
    if command.state not in FINAL and command.expires_at <= now:
        changes.append(
            _move(command, CommandState.EXPIRED, actor=SYSTEM, now=now, message="expired")
        )
    try:
        outcome = after_ack(CommandState(command.state), ack)
    except IllegalAck as exc:
        raise Conflict(str(exc), fields=("status",)) from exc
    if outcome.changed:
        changes.append(_move(command, outcome.state, actor=actor, now=now, message=message))
        command.message = message
    _record(session, changes=changes)
    await session.flush()
    return (await _history(session, commands=[command]))[0], changes
