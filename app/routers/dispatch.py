"""Dispatch of pods: requests for rides and deliveries (/v1/dispatch/requests), the pods and
their schedules (/v1/dispatch/pods) and each provider's settings (/v1/dispatch/settings)."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response

from app.core.auth import Principal, Scope
from app.core.bounded import QueryText
from app.core.errors import InvalidInput, NotFound
from app.deps import SessionDep, require
from fleet.commands.service import Change
from fleet.dispatch import service
from fleet.dispatch.models import DispatchRequest
from fleet.dispatch.runner import Reoptimiser
from fleet.dispatch.schemas import (
    CancelBody,
    Capacity,
    DispatchSettingsBody,
    OutcomeBody,
    PodPage,
    PodRead,
    Promise,
    RequestChangeRead,
    RequestCreate,
    RequestPage,
    RequestRead,
    ScheduledStopRead,
    ScheduleRead,
)
from fleet.dispatch.service import RequestView
from fleet.dispatch.states import RequestState
from fleet.rebalancing.schemas import Position
from telemetry.hotstate.store import HotState

router = APIRouter(prefix="/v1/dispatch", tags=["dispatch"])

Reader = Annotated[Principal, Depends(require(Scope.DISPATCH_READ, provider_bound=True))]
Booker = Annotated[Principal, Depends(require(Scope.DISPATCH_BOOK, provider_bound=True))]
Manager = Annotated[Principal, Depends(require(Scope.DISPATCH_MANAGE, provider_bound=True))]
MAX_PAGE = 500
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _provider(principal: Principal) -> uuid.UUID:
    provider_id, _ = principal.acting_for()
    return provider_id


def _hot(request: Request) -> HotState:
    hot: HotState = request.app.state.live.hot
    return hot


def _sent(request: Request, background: BackgroundTasks, changes: list[Change]) -> None:
    """Once the transaction has committed: wake the pods' gateways and ask for a re-plan
    (asked before the commit, the round could read the schedules without the change)."""
    reoptimiser: Reoptimiser = request.app.state.dispatch
    background.add_task(reoptimiser.announce, changes)


def _read(view: RequestView) -> RequestRead:
    r = view.request
    return RequestRead(
        request_id=r.request_id,
        client_request_id=r.client_id,
        provider_id=r.provider_id,
        kind=r.kind,
        state=r.state,
        device_id=r.device_id,
        trip_id=r.trip_id,
        journey_id=r.journey_id,
        pickup=Position(lat=r.pickup_lat, lng=r.pickup_lng),
        dropoff=Position(lat=r.dropoff_lat, lng=r.dropoff_lng),
        passengers=r.passengers,
        wheelchairs=r.wheelchairs,
        weight_kg=r.weight_g / 1000,
        volume_l=r.volume_l,
        earliest_pickup=r.earliest_pickup,
        latest_dropoff=r.latest_dropoff,
        max_ride_s=r.max_ride_s,
        promise=Promise(
            pickup_from=r.pickup_from,
            pickup_to=r.pickup_to,
            dropoff_from=r.dropoff_from,
            dropoff_to=r.dropoff_to,
        ),
        planned_pickup_at=view.planned_pickup_at,
        planned_dropoff_at=view.planned_dropoff_at,
        picked_up_at=r.picked_up_at,
        finished_at=r.finished_at,
        reason=r.reason,
        requested_by=r.requested_by,
        created_at=r.created_at,
        updated_at=r.updated_at,
        history=[
            RequestChangeRead(
                at=c.at,
                actor=c.actor,
                from_state=c.from_state,
                to_state=c.to_state,
                message=c.message,
            )
            for c in view.history
        ],
    )


@router.post(
    "/requests",
    operation_id="v1_create_dispatch_request",
    summary="Book a ride or a delivery: a pod and a promise at once, or 409 with the reason",
    response_model=RequestRead,
    status_code=201,
    responses={200: {"description": "A retry of a stored request (same request_id)."}},
)
async def create_request(
    session: SessionDep,
    principal: Booker,
    body: RequestCreate,
    request: Request,
    response: Response,
    background: BackgroundTasks,
) -> RequestRead:
    """Inserted into the pod schedule where it costs least without breaking any promise."""
    view, changes, created = await service.create_request(
        session,
        _hot(request),
        provider_id=_provider(principal),
        body=body,
        actor=principal.key_id,
        now=datetime.now(UTC),
    )
    if not created:
        response.status_code = 200
    _sent(request, background, changes)
    return _read(view)


def _cursor(row: DispatchRequest) -> str:
    """A page's `next_since`: the last request's change time (µs) and id."""
    micros = (row.updated_at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}.{row.request_id.hex}"


def _since(text: str) -> tuple[datetime, uuid.UUID]:
    """A page's `next_since`, or an RFC 3339 time (every request changed after it)."""
    micros, dot, hex_id = text.partition(".")
    if dot and micros.isdigit() and len(hex_id) == 32:
        try:
            return EPOCH + timedelta(microseconds=int(micros)), uuid.UUID(hex=hex_id)
        except ValueError:
            pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            "since is an RFC 3339 time or a page's next_since", fields=("since",)
        ) from None
    if moment.tzinfo is None:
        raise InvalidInput("since needs a UTC offset", fields=("since",))
    return moment.astimezone(UTC), uuid.UUID(int=0)


@router.get(
    "/requests",
    operation_id="v1_list_dispatch_requests",
    summary="Requests by last change, oldest first",
    response_model=RequestPage,
)
async def list_requests(
    session: SessionDep,
    principal: Reader,
    state: Annotated[RequestState | None, Query()] = None,
    since: Annotated[
        QueryText | None, Query(description="Changed after: an RFC 3339 time or next_since")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> RequestPage:
    """Follow requests by passing each page's `next_since` back."""
    views = await service.list_requests(
        session,
        provider_id=_provider(principal),
        state=state,
        since=_since(since) if since is not None else None,
        limit=limit,
    )
    cursor = _cursor(views[-1].request) if views else since
    return RequestPage(data=[_read(v) for v in views], next_since=cursor)


@router.get(
    "/requests/{request_id}",
    operation_id="v1_get_dispatch_request",
    summary="One request, its promise, planned times and history",
    response_model=RequestRead,
)
async def get_request(session: SessionDep, principal: Reader, request_id: uuid.UUID) -> RequestRead:
    """Another operator's request reads as not found."""
    return _read(
        await service.read_request(session, provider_id=_provider(principal), request_id=request_id)
    )


async def _finish(
    session: SessionDep,
    principal: Principal,
    request: Request,
    background: BackgroundTasks,
    request_id: uuid.UUID,
    to: RequestState,
    reason: str | None,
) -> RequestRead:
    """End a request by hand; its pod's schedule drops it."""
    view, changes = await service.finish_request(
        session,
        _hot(request),
        provider_id=_provider(principal),
        request_id=request_id,
        to=to,
        actor=principal.key_id,
        reason=reason,
        now=datetime.now(UTC),
    )
    _sent(request, background, changes)
    return _read(view)


@router.post(
    "/requests/{request_id}/cancel",
    operation_id="v1_cancel_dispatch_request",
    summary="Cancel a request not yet picked up; its pod's schedule drops it",
    response_model=RequestRead,
)
async def cancel_request(
    session: SessionDep,
    principal: Booker,
    request_id: uuid.UUID,
    request: Request,
    background: BackgroundTasks,
    body: CancelBody | None = None,
) -> RequestRead:
    """409 with the allowed states once the request was picked up or ended."""
    return await _finish(
        session,
        principal,
        request,
        background,
        request_id,
        RequestState.CANCELLED,
        body.reason if body else None,
    )


@router.post(
    "/requests/{request_id}/outcome",
    operation_id="v1_record_dispatch_outcome",
    summary="Record by hand how a request ended: no_show, failed or delivered",
    response_model=RequestRead,
)
async def record_outcome(
    session: SessionDep,
    principal: Manager,
    request_id: uuid.UUID,
    body: OutcomeBody,
    request: Request,
    background: BackgroundTasks,
) -> RequestRead:
    """For what the pod's events did not tell (a rider who never came)."""
    return await _finish(
        session,
        principal,
        request,
        background,
        request_id,
        RequestState(body.state.value),
        body.reason,
    )


@router.get(
    "/pods",
    operation_id="v1_list_dispatch_pods",
    summary="The provider's pods: whether each takes requests, what it carries",
    response_model=PodPage,
)
async def list_pods(session: SessionDep, principal: Reader, request: Request) -> PodPage:
    """Pods of the passenger-services and delivery-robots modes; none for other operators."""
    fleet = await service.load_fleet(
        session, _hot(request), provider_id=_provider(principal), now=datetime.now(UTC), lock=False
    )
    pods = []
    for view in fleet.pods:
        schedule = fleet.schedules.get(view.device_id)
        live, capacity = view.live, view.facts.capacity
        pods.append(
            PodRead(
                device_id=view.device_id,
                vehicle_id=view.vehicle.vehicle_id,
                dispatchable=view.facts.why_not is None,
                why_not=view.facts.why_not,
                lat=live.lat if live else None,
                lng=live.lng if live else None,
                state=live.state if live else None,
                battery_percent=live.battery if live else None,
                range_m=view.facts.range_m,
                capacity=Capacity(
                    seats=capacity.seats,
                    wheelchairs=capacity.wheelchairs,
                    payload_kg=capacity.weight_g / 1000,
                    volume_l=capacity.volume_l,
                ),
                stops=len(schedule.stops) if schedule else 0,
                onboard=sum(
                    1
                    for r in fleet.requests.values()
                    if r.device_id == view.device_id and r.state == RequestState.PICKED_UP
                ),
            )
        )
    return PodPage(data=pods)


@router.get(
    "/pods/{device_id}/schedule",
    operation_id="v1_get_dispatch_schedule",
    summary="A pod's stops not yet done, in order, with times and load",
    response_model=ScheduleRead,
)
async def get_schedule(
    session: SessionDep, principal: Reader, device_id: uuid.UUID, request: Request
) -> ScheduleRead:
    """404 for a vehicle that is not one of the caller's pods."""
    fleet = await service.load_fleet(
        session, _hot(request), provider_id=_provider(principal), now=datetime.now(UTC), lock=False
    )
    if fleet.pod(device_id) is None:
        raise NotFound(f"pod {device_id} not found")
    schedule = fleet.schedules.get(device_id)
    return ScheduleRead(
        device_id=device_id,
        version=schedule.version if schedule else 0,
        planned_at=schedule.planned_at if schedule else None,
        command_id=schedule.command_id if schedule else None,
        stops=[
            ScheduledStopRead(
                request_id=s["request_id"],
                kind=s["kind"],
                lat=s["lat"],
                lng=s["lng"],
                arrive_at=s["arrive_at"],
                start_at=s["start_at"],
                depart_at=s["depart_at"],
                window_from=s["window_from"],
                window_to=s["window_to"],
                seats_after=s["seats_after"],
                wheelchairs_after=s["wheelchairs_after"],
                payload_kg_after=s["weight_g_after"] / 1000,
            )
            for s in (schedule.stops if schedule else [])
        ],
    )


@router.get(
    "/settings",
    operation_id="v1_get_dispatch_settings",
    summary="The caller's dispatch settings (defaults until set)",
    response_model=DispatchSettingsBody,
)
async def get_settings(session: SessionDep, principal: Reader) -> DispatchSettingsBody:
    """Capacity, range, speeds, service times and promise widths of the pods."""
    return await service.dispatch_settings(session, provider_id=_provider(principal))


@router.put(
    "/settings",
    operation_id="v1_put_dispatch_settings",
    summary="Replace the caller's dispatch settings",
    response_model=DispatchSettingsBody,
)
async def put_settings(
    session: SessionDep, principal: Manager, body: DispatchSettingsBody
) -> DispatchSettingsBody:
    """Fields left out take their defaults; promises already given are kept."""
    await service.put_dispatch_settings(
        session,
        provider_id=_provider(principal),
        settings=body,
        actor=principal.key_id,
        now=datetime.now(UTC),
    )
    return body
