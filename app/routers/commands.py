"""Vehicle commands: sent by managers, read back, and delivered to and acked by gateways."""

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from pydantic import BaseModel

from app.core.auth import Principal, Role, Scope
from app.core.errors import Forbidden
from app.deps import RedisDep, SessionDep, require
from app.paging import DeviceId, PageDep
from fleet.commands import feed
from fleet.commands.delivery import CommandDelivery
from fleet.commands.permissions import may_command
from fleet.commands.schemas import (
    MAX_WAIT_S,
    CommandAck,
    CommandChangeRead,
    CommandCreate,
    CommandRead,
    GatewayCommand,
)
from fleet.commands.service import (
    CommandView,
    ack_command,
    create_command,
    get_command,
    list_commands,
)
from fleet.tasks.service import holds_task_for

router = APIRouter(prefix="/v1", tags=["commands"])

Sender = Annotated[Principal, Depends(require(Scope.COMMANDS_WRITE, provider_bound=True))]
Reader = Annotated[Principal, Depends(require(Scope.FLEET_READ, provider_bound=True))]
Gateway = Annotated[Principal, Depends(require(Scope.COMMANDS_RECEIVE, provider_bound=True))]


class PageLinks(BaseModel):
    """The first page, and the next one (null on the last)."""

    first: str
    next: str | None


class CommandList(BaseModel):
    """A page of a vehicle's commands, newest first."""

    commands: list[CommandRead]
    links: PageLinks


class GatewayCommands(BaseModel):
    """Commands for the gateway to execute and ack."""

    commands: list[GatewayCommand]


def command_read(view: CommandView) -> CommandRead:
    """A command with its history as /v1 reads it."""
    c = view.command
    return CommandRead(
        command_id=c.command_id,
        client_command_id=c.client_id,
        provider_id=c.provider_id,
        device_id=c.device_id,
        kind=c.kind,
        params=c.params,
        state=c.state,
        issued_by=c.issued_by,
        created_at=c.created_at,
        expires_at=c.expires_at,
        delivered_at=c.delivered_at,
        attempts=c.attempts,
        message=c.message,
        history=[CommandChangeRead.model_validate(h, from_attributes=True) for h in view.history],
    )


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _provider(principal: Principal) -> uuid.UUID:
    return principal.acting_for()[0]


@router.post(
    "/vehicles/{device_id}/commands",
    operation_id="v1_send_command",
    summary="Send a command to one of the fleet's vehicles",
    status_code=201,
    response_model=CommandRead,
    responses={200: {"description": "The command sent before with this command_id."}},
)
async def send_command(
    session: SessionDep,
    redis: RedisDep,
    principal: Sender,
    device_id: DeviceId,
    body: CommandCreate,
    response: Response,
    background: BackgroundTasks,
) -> CommandRead:
    """201 with the new command; 200 with the stored one when `command_id` repeats the same
    request, 409 when it names a different one."""
    provider_id = _provider(principal)
    # Field agents may command a vehicle of a task they hold, so only they need the lookup.
    holds_task = principal.role is Role.FIELD_AGENT and await holds_task_for(
        session, provider_id=provider_id, device_id=uuid.UUID(device_id), holder=principal.key_id
    )
    if not may_command(principal.role, holds_task=holds_task):
        raise Forbidden(f"role {principal.role} may not command this vehicle")
    view, changes = await create_command(
        session,
        provider_id=provider_id,
        device_id=uuid.UUID(device_id),
        request=body,
        issued_by=principal.key_id,
        now=datetime.now(UTC),
    )
    if not changes:
        response.status_code = 200
    # Announced once the unit of work has committed, so a woken gateway finds the command.
    background.add_task(feed.publish, redis, changes)
    return command_read(view)


@router.get(
    "/vehicles/{device_id}/commands",
    operation_id="v1_list_vehicle_commands",
    summary="A vehicle's commands with their states and histories, newest first",
    response_model=CommandList,
)
async def vehicle_commands(
    session: SessionDep,
    redis: RedisDep,
    principal: Reader,
    device_id: DeviceId,
    page: PageDep,
    background: BackgroundTasks,
) -> CommandList:
    """Commands past their expiry read as expired."""
    found, changes = await list_commands(
        session,
        provider_id=_provider(principal),
        device_id=uuid.UUID(device_id),
        limit=page.size,
        after=page.after,
        now=datetime.now(UTC),
    )
    background.add_task(feed.publish, redis, changes)
    return CommandList(
        commands=[command_read(v) for v in found.commands],
        links=PageLinks.model_validate(page.links(found.next_after)),
    )


@router.get(
    "/commands/{command_id}",
    operation_id="v1_get_command",
    summary="One command with its state and history",
    response_model=CommandRead,
)
async def command(
    session: SessionDep,
    redis: RedisDep,
    principal: Reader,
    command_id: uuid.UUID,
    background: BackgroundTasks,
) -> CommandRead:
    """404 alike for unknown commands and other providers' commands."""
    view, changes = await get_command(
        session, provider_id=_provider(principal), command_id=command_id, now=datetime.now(UTC)
    )
    background.add_task(feed.publish, redis, changes)
    return command_read(view)


@router.get(
    "/gateway/commands",
    operation_id="v1_gateway_poll_commands",
    summary="Long poll: the commands due for the gateway's fleet",
    response_model=GatewayCommands,
)
async def gateway_commands(
    request: Request,
    principal: Gateway,
    wait: Annotated[
        int, Query(ge=0, le=MAX_WAIT_S, description="Seconds to wait when none are due.")
    ] = 0,
    reconnect: Annotated[
        bool,
        Query(
            description="Set on the first poll after (re)connecting: commands handed out "
            "before and not answered are handed out again at once."
        ),
    ] = False,
) -> GatewayCommands:
    """Due commands at once, else the first within `wait` seconds; each is marked
    delivered and handed out again if not answered within the redelivery time."""
    delivery: CommandDelivery = request.app.state.command_delivery
    poll = asyncio.create_task(
        delivery.poll(
            _provider(principal), actor=principal.key_id, wait_s=wait, reconnected=reconnect
        )
    )
    # A gateway that hangs up ends its wait: a waiting poll must not hold a shutdown up.
    gone = asyncio.create_task(_disconnected(request))
    await asyncio.wait({poll, gone}, return_when=asyncio.FIRST_COMPLETED)
    gone.cancel()
    if not poll.done():
        poll.cancel()
        await asyncio.gather(poll, gone, return_exceptions=True)
        return GatewayCommands(commands=[])  # no one is listening any more
    await asyncio.gather(gone, return_exceptions=True)
    return GatewayCommands(commands=poll.result())


@router.post(
    "/gateway/commands/{command_id}/ack",
    operation_id="v1_gateway_ack_command",
    summary="Report a command accepted, rejected, done or failed",
    response_model=CommandRead,
)
async def ack(
    session: SessionDep,
    redis: RedisDep,
    principal: Gateway,
    command_id: uuid.UUID,
    body: CommandAck,
    background: BackgroundTasks,
) -> CommandRead:
    """A repeated or superseded ack is answered with the command unchanged; one that
    contradicts its state is a 409 naming the acks allowed."""
    view, changes = await ack_command(
        session,
        provider_id=_provider(principal),
        command_id=command_id,
        ack=body.status,
        message=body.message,
        actor=principal.key_id,
        now=datetime.now(UTC),
    )
    background.add_task(feed.publish, redis, changes)
    return command_read(view)
