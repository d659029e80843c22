"""Dispatch in the database and the hot state (flush only): the provider's pods and
schedules as a planning problem, new requests inserted at once, state changes from the
pods' events and by hand, and schedules carried to the pods as `set_route` commands.

Every change to one provider's schedules holds that provider's advisory lock for its
transaction, so two bookings never plan against the same stale schedules.
"""

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Mode
from app.core.errors import Conflict, NotFound, StateConflict
from app.core.mstime import from_ms
from fleet.commands.service import Change as CommandChange
from fleet.commands.service import issue_from_system
from fleet.dispatch import planner
from fleet.dispatch.booking import Clock, new_request, promise_of, travel_of
from fleet.dispatch.model import (
    Load,
    Planned,
    Pod,
    Problem,
    Refusal,
    Request,
    Schedule,
    ScheduledStop,
    StopKind,
    Window,
)
from fleet.dispatch.models import (
    ACTIVE_STATES,
    DispatchRequest,
    DispatchRequestChange,
    DispatchSettingsRecord,
    PodSchedule,
)
from fleet.dispatch.pods import DISPATCHABLE_MODES, PodFacts, pod_facts
from fleet.dispatch.schedules import timed
from fleet.dispatch.schemas import DispatchSettingsBody, RequestCreate
from fleet.dispatch.states import PINNING, RequestState, after_event, allowed_next
from fleet.rebalancing.model import Place
from fleet.tenancy.models import Provider
from fleet.vehicles.models import Vehicle
from telemetry.hotstate.store import HotState, LiveVehicle

SYSTEM = "system"
# A set_route command the pod has not taken within this is stale: a newer plan follows.
ROUTE_TTL_S = 600
_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended('dispatch:' || :provider, 0))")


class Unservable(Conflict):
    """No pod can serve a request; the problem body names the reason and when one could."""

    def __init__(self, refusal: Refusal, earliest_pickup: datetime | None) -> None:
        when = (
            f"; a pod could pick up from {earliest_pickup.isoformat()}" if earliest_pickup else ""
        )
        super().__init__(f"no pod can serve this request: {refusal.reason.value}{when}")
        self.reason = refusal.reason.value
        self.earliest_pickup = earliest_pickup

    def extensions(self) -> dict[str, Any]:
        """The reason, and the earliest pickup a pod could make (null if none)."""
        earliest = self.earliest_pickup.isoformat() if self.earliest_pickup else None
        return {"reason": self.reason, "earliest_pickup": earliest}


@dataclass
class PodView:
    """A pod of the provider: its registration, what Redis knows, what it can do."""

    vehicle: Vehicle
    live: LiveVehicle | None
    facts: PodFacts

    @property
    def device_id(self) -> uuid.UUID:
        """The pod's device id."""
        return self.vehicle.device_id


@dataclass
class Fleet:
    """One provider's pods, active requests and stored schedules, as of `clock.now`."""

    provider_id: uuid.UUID
    mode: Mode
    settings: DispatchSettingsBody
    clock: Clock
    pods: list[PodView]
    requests: dict[uuid.UUID, DispatchRequest]
    schedules: dict[uuid.UUID, PodSchedule]

    def pod(self, device_id: uuid.UUID) -> PodView | None:
        """The pod with this device id, if the provider has it."""
        return next((p for p in self.pods if p.device_id == device_id), None)


@dataclass(frozen=True)
class RequestView:
    """A request with its history and its planned times in the pod's schedule."""

    request: DispatchRequest
    history: Sequence[DispatchRequestChange]
    planned_pickup_at: datetime | None
    planned_dropoff_at: datetime | None


async def dispatch_settings(
    session: AsyncSession, *, provider_id: uuid.UUID
) -> DispatchSettingsBody:
    """The provider's dispatch settings, or the defaults."""
    stored = await session.get(DispatchSettingsRecord, provider_id)
    return DispatchSettingsBody.model_validate(stored.settings if stored else {})


async def put_dispatch_settings(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    settings: DispatchSettingsBody,
    actor: str,
    now: datetime,
) -> None:
    """Replace the provider's dispatch settings."""
    stored = await session.get(DispatchSettingsRecord, provider_id)
    values = settings.model_dump()
    if stored is None:
        session.add(
            DispatchSettingsRecord(
                provider_id=provider_id, settings=values, updated_by=actor, updated_at=now
            )
        )
    else:
        stored.settings, stored.updated_by, stored.updated_at = values, actor, now
    await session.flush()


async def load_fleet(
    session: AsyncSession, hot: HotState, *, provider_id: uuid.UUID, now: datetime, lock: bool
) -> Fleet:
    """The provider's pods and active requests; with `lock`, under the provider's lock."""
    if lock:
        await session.execute(_LOCK, {"provider": str(provider_id)})
    stored_mode = await session.scalar(
        select(Provider.mode).where(Provider.provider_id == provider_id)
    )
    mode = Mode(stored_mode) if stored_mode else Mode.MICROMOBILITY
    settings = await dispatch_settings(session, provider_id=provider_id)
    vehicles = (
        (
            await session.scalars(
                select(Vehicle)
                .where(Vehicle.provider_id == provider_id)
                .order_by(Vehicle.device_id)
            )
        ).all()
        if mode in DISPATCHABLE_MODES
        else []
    )
    lives = await hot.vehicles(provider_id, [str(v.device_id) for v in vehicles])
    pods = [
        PodView(
            v,
            live,
            pod_facts(
                mode=mode,
                record=v.record,
                settings=settings,
                state=live.state if live else None,
                battery_percent=live.battery if live else None,
                has_position=live is not None and None not in (live.lat, live.lng),
            ),
        )
        for v, live in zip(vehicles, lives, strict=True)
    ]
    requests = (
        await session.scalars(
            select(DispatchRequest).where(
                DispatchRequest.provider_id == provider_id,
                DispatchRequest.state.in_(ACTIVE_STATES),
            )
        )
    ).all()
    schedules = (
        await session.scalars(select(PodSchedule).where(PodSchedule.provider_id == provider_id))
    ).all()
    return Fleet(
        provider_id,
        mode,
        settings,
        Clock(now),
        pods,
        {r.request_id: r for r in requests},
        {s.device_id: s for s in schedules},
    )


def _window(clock: Clock, start: datetime, end: datetime, floor_s: int) -> Window:
    """A stored window in planning seconds; one already past widens to `floor_s`."""
    earliest = max(0, clock.s(start))
    return Window(earliest, max(clock.s(end), floor_s, earliest))


def _planned_start(
    schedule: PodSchedule | None, request_id: uuid.UUID, kind: str
) -> datetime | None:
    for stop in schedule.stops if schedule else []:
        if stop["request_id"] == str(request_id) and stop["kind"] == kind:
            return datetime.fromisoformat(stop["start_at"])
    return None


def _model_request(fleet: Fleet, row: DispatchRequest, schedule: PodSchedule | None) -> Request:
    """A stored request as the planner sees it: its promises as its windows."""
    clock, s = fleet.clock, fleet.settings
    # A promise the pod can no longer keep is widened to the time stored as planned.
    late = s.promise_late_s
    planned_pickup = _planned_start(schedule, row.request_id, StopKind.PICKUP)
    planned_dropoff = _planned_start(schedule, row.request_id, StopKind.DROPOFF)
    pickup = _window(
        clock,
        row.pickup_from,
        row.pickup_to,
        clock.s(planned_pickup) + late if planned_pickup else 0,
    )
    dropoff_to = row.dropoff_to
    if row.picked_up_at is not None:
        # The ride-time promise now binds the drop-off.
        ride_end = row.picked_up_at + timedelta(seconds=s.boarding_s + row.max_ride_s)
        dropoff_to = min(dropoff_to, ride_end)
    dropoff = _window(
        clock,
        row.dropoff_from,
        dropoff_to,
        clock.s(planned_dropoff) + late if planned_dropoff else 0,
    )
    return Request(
        request_id=str(row.request_id),
        pickup=Place(row.pickup_lat, row.pickup_lng),
        dropoff=Place(row.dropoff_lat, row.dropoff_lng),
        load=Load(row.passengers, row.wheelchairs, row.weight_g, row.volume_l),
        pickup_window=pickup,
        dropoff_window=dropoff,
        max_ride_s=row.max_ride_s,
        pickup_service_s=s.boarding_s,
        dropoff_service_s=s.alighting_s,
    )


def _order(fleet: Fleet, device_id: uuid.UUID) -> tuple[Planned, ...]:
    """The pod's stored order, kept to the stops its active requests still need; a stop
    missing from it (a schedule lost) goes to the end."""
    mine = {r.request_id: r for r in fleet.requests.values() if r.device_id == device_id}
    needed = {
        (str(r.request_id), kind)
        for r in mine.values()
        for kind in (
            (StopKind.DROPOFF,)
            if r.state == RequestState.PICKED_UP
            else (StopKind.PICKUP, StopKind.DROPOFF)
        )
    }
    schedule = fleet.schedules.get(device_id)
    order = [
        Planned(stop["request_id"], StopKind(stop["kind"]))
        for stop in (schedule.stops if schedule else [])
        if (stop["request_id"], stop["kind"]) in needed
    ]
    seen = {(p.request_id, p.kind.value) for p in order}
    for request_id, kind in sorted(needed - seen, key=lambda k: (k[0], k[1] != StopKind.PICKUP)):
        order.append(Planned(request_id, StopKind(kind)))
    return tuple(order)


def problem_of(fleet: Fleet) -> Problem:
    """The planning problem of the pods with a known position: those that take requests,
    and those that do not (charging, out of service) with the requests they still hold,
    which re-planning moves to other pods unless they are on board or pinned."""
    s = fleet.settings
    pods, orders, requests = [], {}, {}
    for view in fleet.pods:
        live = view.live
        device = view.device_id
        mine = [r for r in fleet.requests.values() if r.device_id == device]
        if live is None or live.lat is None or live.lng is None:
            continue
        if view.facts.why_not is not None and not mine:
            continue
        schedule = fleet.schedules.get(device)
        for row in mine:
            requests[str(row.request_id)] = _model_request(fleet, row, schedule)
        pod_id = str(device)
        orders[pod_id] = _order(fleet, device)
        pods.append(
            Pod(
                pod_id=pod_id,
                place=Place(live.lat, live.lng),
                free_at_s=0,
                capacity=view.facts.capacity,
                route_end_s=round(s.route_hours * 3600),
                range_m=view.facts.range_m,
                onboard=tuple(str(r.request_id) for r in mine if r.state == RequestState.PICKED_UP),
                pinned=tuple(
                    str(r.request_id)
                    for r in mine
                    if r.pinned_at is not None or r.state == RequestState.PICKED_UP
                ),
                takes_new=view.facts.why_not is None,
            )
        )
    return Problem(
        pods=tuple(pods),
        requests=requests,
        orders=orders,
        travel=travel_of(s),
        metres_per_second=s.speed_kmh / 3.6,
    )


def _stop_json(
    fleet: Fleet, stop: ScheduledStop, request: Request, trip_id: uuid.UUID | None
) -> dict[str, Any]:
    clock = fleet.clock
    window = request.pickup_window if stop.kind == StopKind.PICKUP else request.dropoff_window
    return {
        "request_id": stop.request_id,
        "trip_id": str(trip_id) if trip_id else None,
        "kind": stop.kind.value,
        "lat": stop.place.lat,
        "lng": stop.place.lng,
        "arrive_at": clock.at(stop.arrive_s).isoformat(),
        "start_at": clock.at(stop.start_s).isoformat(),
        "depart_at": clock.at(stop.depart_s).isoformat(),
        "window_from": clock.at(window.earliest_s).isoformat(),
        "window_to": clock.at(window.latest_s).isoformat(),
        "seats_after": stop.load_after.seats,
        "wheelchairs_after": stop.load_after.wheelchairs,
        "weight_g_after": stop.load_after.weight_g,
    }


async def store_schedules(
    session: AsyncSession,
    *,
    fleet: Fleet,
    schedules: Iterable[Schedule],
    requests: Mapping[str, Request],
    trips: Mapping[str, uuid.UUID],
) -> list[CommandChange]:
    """Store the pods' new schedules. A schedule whose order changed becomes a new version
    sent to its pod; one whose times alone moved is updated in place, unsent. A request
    that moved to another pod is the new pod's from now on."""
    changes: list[CommandChange] = []
    for schedule in schedules:
        device = uuid.UUID(schedule.pod_id)
        stops = [
            _stop_json(fleet, stop, requests[stop.request_id], trips.get(stop.request_id))
            for stop in schedule.stops
        ]
        _reassign(session, fleet=fleet, device=device, schedule=schedule)
        stored = fleet.schedules.get(device)
        if stored is None:
            stored = PodSchedule(
                provider_id=fleet.provider_id, device_id=device, stops=[], version=0
            )
            session.add(stored)
            fleet.schedules[device] = stored
        elif _order_of(stored.stops) == _order_of(stops):
            stored.stops = stops
            continue
        stored.stops, stored.version = stops, stored.version + 1
        stored.planned_at = fleet.clock.now
        sent = await issue_from_system(
            session,
            provider_id=fleet.provider_id,
            device_id=device,
            kind="set_route",
            params={"version": stored.version, "stops": stops},
            ttl_s=ROUTE_TTL_S,
            now=fleet.clock.now,
        )
        stored.command_id = sent[-1].command_id
        changes += sent
    await session.flush()
    return changes


def _order_of(stops: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    return [(s["request_id"], s["kind"]) for s in stops]


def _reassign(
    session: AsyncSession, *, fleet: Fleet, device: uuid.UUID, schedule: Schedule
) -> None:
    """Requests in the pod's new schedule that another pod had are this pod's now."""
    for request_id in dict.fromkeys(stop.request_id for stop in schedule.stops):
        row = fleet.requests.get(uuid.UUID(request_id))
        if row is None or row.device_id == device:
            continue
        _record(
            session,
            row=row,
            to=RequestState(row.state),
            actor=SYSTEM,
            now=fleet.clock.now,
            message=f"moved to pod {device}",
        )
        row.device_id = device


def trips_of(fleet: Fleet) -> dict[str, uuid.UUID]:
    """Each active request's MDS trip id, by request id."""
    return {str(r.request_id): r.trip_id for r in fleet.requests.values()}


def _record(
    session: AsyncSession,
    *,
    row: DispatchRequest,
    to: RequestState,
    actor: str,
    now: datetime,
    message: str | None = None,
    new: bool = False,
) -> None:
    session.add(
        DispatchRequestChange(
            request_id=row.request_id,
            at=now,
            actor=actor,
            from_state=None if new else row.state,
            to_state=to.value,
            message=message,
        )
    )
    row.state, row.updated_at = to.value, now


def _same_booking(row: DispatchRequest, body: RequestCreate) -> bool:
    return (
        row.kind == body.kind.value
        and (row.pickup_lat, row.pickup_lng) == (body.pickup.lat, body.pickup.lng)
        and (row.dropoff_lat, row.dropoff_lng) == (body.dropoff.lat, body.dropoff.lng)
        and (row.passengers, row.wheelchairs) == (body.passengers, body.wheelchairs)
    )


async def create_request(
    session: AsyncSession,
    hot: HotState,
    *,
    provider_id: uuid.UUID,
    body: RequestCreate,
    actor: str,
    now: datetime,
) -> tuple[RequestView, list[CommandChange], bool]:
    """Plan a booking at once: stored with its pod and promise, the changed schedules sent
    to their pods; (view, command changes, created). Unservable when no pod can take it."""
    fleet = await load_fleet(session, hot, provider_id=provider_id, now=now, lock=True)
    if body.request_id is not None:
        existing = await session.scalar(
            select(DispatchRequest).where(
                DispatchRequest.provider_id == provider_id,
                DispatchRequest.client_id == body.request_id,
            )
        )
        if existing is not None:
            if not _same_booking(existing, body):
                raise Conflict(
                    f"request_id {body.request_id} was used for another request",
                    fields=("request_id",),
                )
            return (
                await read_request(
                    session, provider_id=provider_id, request_id=existing.request_id
                ),
                [],
                False,
            )
    request_id = uuid.uuid4()
    wanted = new_request(body, fleet.settings, fleet.clock, str(request_id))
    problem = problem_of(fleet)
    answer = planner.insert(problem, wanted)
    if isinstance(answer, Refusal):
        earliest = answer.earliest_pickup_s
        raise Unservable(answer, fleet.clock.at(earliest) if earliest is not None else None)
    pickup, dropoff = promise_of(wanted, answer, fleet.settings)
    clock = fleet.clock
    row = DispatchRequest(
        request_id=request_id,
        provider_id=provider_id,
        client_id=body.request_id,
        kind=body.kind.value,
        state=RequestState.ASSIGNED.value,
        pickup_lat=body.pickup.lat,
        pickup_lng=body.pickup.lng,
        dropoff_lat=body.dropoff.lat,
        dropoff_lng=body.dropoff.lng,
        passengers=body.passengers,
        wheelchairs=body.wheelchairs,
        weight_g=wanted.load.weight_g,
        volume_l=wanted.load.volume_l,
        earliest_pickup=clock.at(wanted.pickup_window.earliest_s),
        latest_dropoff=clock.at(wanted.dropoff_window.latest_s),
        max_ride_s=wanted.max_ride_s,
        device_id=uuid.UUID(answer.pod_id),
        trip_id=uuid.uuid4(),
        journey_id=body.journey_id,
        pickup_from=clock.at(pickup.earliest_s),
        pickup_to=clock.at(pickup.latest_s),
        dropoff_from=clock.at(dropoff.earliest_s),
        dropoff_to=clock.at(dropoff.latest_s),
        requested_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    _record(session, row=row, to=RequestState.ASSIGNED, actor=actor, now=now, new=True)
    fleet.requests[request_id] = row
    await session.flush()
    promised = {**problem.requests, str(request_id): _model_request(fleet, row, None)}
    changes = await store_schedules(
        session, fleet=fleet, schedules=answer.schedules, requests=promised, trips=trips_of(fleet)
    )
    return (
        await read_request(session, provider_id=provider_id, request_id=request_id),
        changes,
        True,
    )


async def _owned(
    session: AsyncSession, *, provider_id: uuid.UUID, request_id: uuid.UUID, lock: bool = False
) -> DispatchRequest:
    query = select(DispatchRequest).where(
        DispatchRequest.provider_id == provider_id, DispatchRequest.request_id == request_id
    )
    row = await session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise NotFound(f"request {request_id} not found")
    return row


async def read_request(
    session: AsyncSession, *, provider_id: uuid.UUID, request_id: uuid.UUID
) -> RequestView:
    """One request of the provider, with its history and planned times."""
    row = await _owned(session, provider_id=provider_id, request_id=request_id)
    return (await _views(session, rows=[row]))[0]


async def _views(session: AsyncSession, *, rows: Sequence[DispatchRequest]) -> list[RequestView]:
    if not rows:
        return []
    ids = [r.request_id for r in rows]
    history = (
        await session.scalars(
            select(DispatchRequestChange)
            .where(DispatchRequestChange.request_id.in_(ids))
            .order_by(DispatchRequestChange.change_id)
        )
    ).all()
    by_request: dict[uuid.UUID, list[DispatchRequestChange]] = {i: [] for i in ids}
    for change in history:
        by_request[change.request_id].append(change)
    keys = {(r.provider_id, r.device_id) for r in rows}
    schedules = {
        s.device_id: s
        for s in (
            await session.scalars(
                select(PodSchedule).where(
                    func.row(PodSchedule.provider_id, PodSchedule.device_id).in_(
                        [func.row(p, d) for p, d in keys]
                    )
                )
            )
        ).all()
    }
    views = []
    for r in rows:
        schedule = schedules.get(r.device_id)
        views.append(
            RequestView(
                r,
                by_request[r.request_id],
                _planned_start(schedule, r.request_id, StopKind.PICKUP),
                _planned_start(schedule, r.request_id, StopKind.DROPOFF),
            )
        )
    return views


async def list_requests(
    session: AsyncSession,
    *,
    provider_id: uuid.UUID,
    state: RequestState | None,
    since: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[RequestView]:
    """The provider's requests by last change, oldest first, after `since` (time, id)."""
    query = select(DispatchRequest).where(DispatchRequest.provider_id == provider_id)
    if state is not None:
        query = query.where(DispatchRequest.state == state.value)
    if since is not None:
        query = query.where(
            func.row(DispatchRequest.updated_at, DispatchRequest.request_id)
            > func.row(since[0], since[1])
        )
    rows = (
        await session.scalars(
            query.order_by(DispatchRequest.updated_at, DispatchRequest.request_id).limit(limit)
        )
    ).all()
    return await _views(session, rows=rows)


async def _replan_without(
    session: AsyncSession, hot: HotState, *, provider_id: uuid.UUID, now: datetime
) -> list[CommandChange]:
    """The pods' schedules again after requests left them (they only get shorter)."""
    fleet = await load_fleet(session, hot, provider_id=provider_id, now=now, lock=True)
    problem = problem_of(fleet)
    schedules = [timed(problem, pod, problem.orders[pod.pod_id]) for pod in problem.pods]
    emptied = [
        Schedule(str(d), (), 0, 0, 0)
        for d, s in fleet.schedules.items()
        if s.stops and str(d) not in problem.orders
    ]
    return await store_schedules(
        session,
        fleet=fleet,
        schedules=[*schedules, *emptied],
        requests=problem.requests,
        trips=trips_of(fleet),
    )


async def finish_request(
    session: AsyncSession,
    hot: HotState,
    *,
    provider_id: uuid.UUID,
    request_id: uuid.UUID,
    to: RequestState,
    actor: str,
    reason: str | None,
    now: datetime,
) -> tuple[RequestView, list[CommandChange]]:
    """Cancel a request, or record its outcome by hand; the pod's schedule drops it."""
    await session.execute(_LOCK, {"provider": str(provider_id)})
    row = await _owned(session, provider_id=provider_id, request_id=request_id, lock=True)
    state = RequestState(row.state)
    if to not in allowed_next(state):
        raise StateConflict(
            f"a {state} request cannot become {to}",
            allowed=sorted(s.value for s in allowed_next(state)),
        )
    _record(session, row=row, to=to, actor=actor, now=now, message=reason)
    row.finished_at, row.reason = now, reason
    await session.flush()
    changes = await _replan_without(session, hot, provider_id=provider_id, now=now)
    return await read_request(session, provider_id=provider_id, request_id=request_id), changes


def _follow(
    session: AsyncSession, *, row: DispatchRequest, event: Mapping[str, Any], now: datetime
) -> bool:
    """Apply one of the request's pod's events; True if the request's state changed. The
    history keeps the event's time; `updated_at` is when fleetbed learnt it."""
    when = from_ms(event["timestamp"])
    if PINNING & set(event["event_types"]) and row.pinned_at is None:
        row.pinned_at = when
    to = after_event(RequestState(row.state), event["event_types"])
    if to is None:
        return False
    _record(session, row=row, to=to, actor=f"event:{event['event_id']}", now=when)
    row.updated_at = now
    if to == RequestState.PICKED_UP:
        row.picked_up_at = when
    else:
        row.finished_at = when
    return True


async def on_events(
    session: AsyncSession,
    hot: HotState,
    *,
    provider_id: uuid.UUID,
    events: Sequence[Mapping[str, Any]],
    now: datetime,
) -> list[CommandChange]:
    """Move the requests the pods' events name (by trip id, from their own pod), oldest
    event first; the schedules drop what is done."""
    named: dict[uuid.UUID, list[Mapping[str, Any]]] = {}
    for event in sorted(events, key=lambda e: e["timestamp"]):
        for trip in event.get("trip_ids") or []:
            named.setdefault(uuid.UUID(trip), []).append(event)
    if not named:
        return []
    rows = (
        await session.scalars(
            select(DispatchRequest)
            .where(
                DispatchRequest.provider_id == provider_id,
                DispatchRequest.trip_id.in_(list(named)),
                DispatchRequest.state.in_(ACTIVE_STATES),
            )
            .with_for_update()
        )
    ).all()
    moved = False
    for row in rows:
        for event in named[row.trip_id]:
            if uuid.UUID(event["device_id"]) == row.device_id:
                moved = _follow(session, row=row, event=event, now=now) or moved
    await session.flush()
    if not moved:
        return []
    return await _replan_without(session, hot, provider_id=provider_id, now=now)
