"""MDS Agency events: state machines per mode, validation, all or nothing, anomalies, live state."""

import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient, Response
from jsonschema import Draft202012Validator
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.auth import Mode, Role
from app.core.bounded import EARLIEST_MS
from app.main import create_app
from app.settings import Settings, TelemetrySettings
from fleet.events.models import VehicleEvent
from fleet.events.state_machines import STATE_MACHINES, StateMachine, Transition
from telemetry.hotstate.store import HotState
from tests.conftest import Tenant, TenantFactory, bound_to, make_settings
from tests.mds_schemas import assert_valid, model_validator, response_validator
from tests.payloads import event, now_ms, register

EVENTS = "/mds/agency/events"
REQUIRED = ["device_id", "provider_id", "event_id", "vehicle_state", "event_types", "timestamp"]
HOUR_MS = 3_600_000
# The official schemas contradict each other here: the mode tables and mode event schemas
# name `recommissioned`, the common event-type enum only `recommission`. fleetbed follows
# the tables, so such events fail that enum, and only it.
NOT_IN_COMMON_ENUM = {"recommissioned"}


# --- helpers ---------------------------------------------------------------------------


def needs_trip_ids(machine: StateMachine, event_type: str, to_state: str) -> bool:
    """Whether a single-type event must carry trip_ids: trip events, jurisdiction ones on trips."""
    return event_type in machine.trip_event_types or (
        event_type in machine.conditional_trip_event_types and to_state == "on_trip"
    )


def transition_event(
    tenant: Tenant, device_id: str, machine: StateMachine, t: Transition, timestamp: int
) -> dict[str, Any]:
    """An event reporting transition `t`, with trip_ids exactly when they are required."""
    fields: dict[str, Any] = {
        "vehicle_state": t.to_state,
        "event_types": [t.event_type],
        "timestamp": timestamp,
    }
    if needs_trip_ids(machine, t.event_type, t.to_state):
        fields["trip_ids"] = [str(uuid.uuid4())]
    return event(tenant, device_id, **fields)


def ordered(machine: StateMachine) -> list[Transition]:
    return sorted(machine.transitions, key=lambda t: (t.from_state, t.event_type, t.to_state))


def entry_transitions(machine: StateMachine) -> dict[str, Transition]:
    """For each state, one transition leading into it."""
    into: dict[str, Transition] = {}
    for t in ordered(machine):
        into.setdefault(t.to_state, t)
    return into


async def post(
    client: AsyncClient, tenant: Tenant, events: Sequence[Any], **headers: str
) -> Response:
    return await client.post(EVENTS, headers={**tenant.headers, **headers}, json=list(events))


async def register_many(client: AsyncClient, tenant: Tenant, count: int) -> list[str]:
    """Register `count` vehicles in batches the registry accepts."""
    devices: list[str] = []
    while len(devices) < count:
        devices += await register(client, tenant, min(50, count - len(devices)))
    return devices


async def count_events(session: AsyncSession, tenant: Tenant) -> int:
    query = select(func.count()).where(VehicleEvent.provider_id == tenant.provider_id)
    return int((await session.execute(query)).scalar_one())


async def stored(session: AsyncSession, tenant: Tenant) -> dict[str, tuple[bool, dict[str, Any]]]:
    """event_id → (anomaly, record) of every stored event of `tenant`."""
    rows = await session.execute(
        select(VehicleEvent.event_id, VehicleEvent.anomaly, VehicleEvent.record).where(
            VehicleEvent.provider_id == tenant.provider_id
        )
    )
    return {str(event_id): (anomaly, record) for event_id, anomaly, record in rows}


def assert_official_event(validator: Draft202012Validator, record: dict[str, Any]) -> None:
    """The record is a valid MDS event, but for the known enum contradiction."""
    if NOT_IN_COMMON_ENUM.isdisjoint(record["event_types"]):
        assert_valid(validator, record)
        return
    errors = [(list(e.absolute_path), e.validator) for e in validator.iter_errors(record)]
    assert errors == [(["event_types", 0], "enum")]


def assert_failure_shape(body: dict[str, Any]) -> None:
    """Bulk body whose failures follow the official failure schema of their error."""
    assert_valid(model_validator("models/response/bulk.yaml"), body)
    assert body["failures"], body
    for failure in body["failures"]:
        assert_valid(model_validator(f"models/response/error_{failure['error']}.yaml"), failure)


def only_failure(response: Response) -> dict[str, Any]:
    """The single failure of a rejected one-item batch."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] == 0
    assert body["total"] == 1
    assert_failure_shape(body)
    [failure] = body["failures"]
    assert isinstance(failure, dict)
    return failure


# --- every transition of every mode ----------------------------------------------------


@pytest.mark.parametrize("mode", list(Mode))
async def test_every_transition_is_accepted_unflagged_and_stored_as_valid_mds(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, mode: Mode
) -> None:
    """One device per transition: an event entering its from_state, then the transition.

    Posted in one batch with the later events first, so each prior comes from the batch.
    """
    gateway = await tenant(mode=mode)
    machine = STATE_MACHINES[mode]
    transitions = ordered(machine)
    into = entry_transitions(machine)
    assert {t.from_state for t in transitions} <= set(into)
    devices = await register_many(client, gateway, len(transitions))
    start = now_ms() - HOUR_MS
    setups, moves = [], []
    for i, (t, device) in enumerate(zip(transitions, devices, strict=True)):
        setups.append(
            transition_event(gateway, device, machine, into[t.from_state], start + 10 * i)
        )
        moves.append(transition_event(gateway, device, machine, t, start + 10 * i + 5))

    response = await post(client, gateway, moves + setups)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["success"] == body["total"] == 2 * len(moves)
    assert body["failures"] == []
    assert_valid(response_validator("agency", "/events", "post", 201, mode.value), body)
    rows = await stored(session, gateway)
    assert set(rows) == {e["event_id"] for e in moves + setups}
    validator = model_validator("models/event.yaml", mode.value)
    for e in moves + setups:
        anomaly, record = rows[e["event_id"]]
        assert record == e
        assert anomaly is False, e
        assert_official_event(validator, record)


@pytest.mark.parametrize("mode", list(Mode))
async def test_every_pairing_no_transition_allows_is_bad_param_event_types(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, mode: Mode
) -> None:
    gateway = await tenant(mode=mode)
    machine = STATE_MACHINES[mode]
    allowed = {(t.event_type, t.to_state) for t in machine.transitions}
    [device] = await register(client, gateway)
    bad = [
        event(
            gateway, device, vehicle_state=state, event_types=[kind], trip_ids=[str(uuid.uuid4())]
        )
        for state in sorted(machine.states)
        for kind in sorted(machine.event_types)
        if (kind, state) not in allowed
    ]
    assert bad

    response = await post(client, gateway, bad)

    assert response.status_code == 400
    body = response.json()
    assert (body["success"], body["total"]) == (0, len(bad))
    assert_failure_shape(body)
    failures = {f["item"]["event_id"]: f for f in body["failures"]}
    assert set(failures) == {e["event_id"] for e in bad}
    for failure in failures.values():
        assert failure["error"] == "bad_param"
        assert failure["error_details"] == ["event_types"]
    assert await count_events(session, gateway) == 0


@pytest.mark.parametrize(
    ("mode", "state", "types", "details"),
    [
        (Mode.MICROMOBILITY, "available", ["trip_start"], ["event_types"]),
        (Mode.MICROMOBILITY, "on_trip", ["trip_end"], ["event_types"]),
        (Mode.DELIVERY_ROBOTS, "available", ["service_end"], ["event_types"]),
        # Known to MDS, but not to the provider's mode.
        (Mode.MICROMOBILITY, "available", ["service_start"], ["event_types"]),
        (Mode.CAR_SHARE, "available", ["provider_drop_off"], ["event_types"]),
        (Mode.MICROMOBILITY, "available", ["teleported"], ["event_types"]),
        (Mode.MICROMOBILITY, "stopped", ["trip_end"], ["vehicle_state"]),
        (Mode.PASSENGER_SERVICES, "missing", ["comms_restored"], ["vehicle_state"]),
        (Mode.PASSENGER_SERVICES, "missing", ["not_located"], ["event_types", "vehicle_state"]),
        (Mode.MICROMOBILITY, "flying", ["trip_end"], ["vehicle_state"]),
    ],
)
async def test_pairings_unknown_types_and_foreign_states_are_refused(
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    mode: Mode,
    state: str,
    types: list[str],
    details: list[str],
) -> None:
    gateway = await tenant(mode=mode)
    [device] = await register(client, gateway)
    item = event(
        gateway, device, vehicle_state=state, event_types=types, trip_ids=[str(uuid.uuid4())]
    )
    failure = only_failure(await post(client, gateway, [item]))
    assert failure["error"] == "bad_param"
    assert sorted(failure["error_details"]) == details
    assert failure["item"] == item
    assert await count_events(session, gateway) == 0


# --- trip_ids ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "state", "types"),
    [
        (Mode.MICROMOBILITY, "on_trip", ["trip_start"]),
        (Mode.MICROMOBILITY, "available", ["trip_end"]),
        (Mode.MICROMOBILITY, "elsewhere", ["trip_leave_jurisdiction"]),
        (Mode.MICROMOBILITY, "non_operational", ["trip_end", "battery_low"]),
        (Mode.CAR_SHARE, "reserved", ["reservation_start"]),
        (Mode.PASSENGER_SERVICES, "available", ["passenger_cancellation"]),
        (Mode.DELIVERY_ROBOTS, "stopped", ["trip_pause"]),
        # Jurisdiction events of the other modes pertain to a trip when entering on_trip.
        (Mode.DELIVERY_ROBOTS, "on_trip", ["trip_enter_jurisdiction"]),
    ],
)
async def test_trip_events_need_trip_ids(
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    mode: Mode,
    state: str,
    types: list[str],
) -> None:
    gateway = await tenant(mode=mode)
    [device] = await register(client, gateway)
    item = event(gateway, device, vehicle_state=state, event_types=types)
    failure = only_failure(await post(client, gateway, [item]))
    assert failure["error"] == "missing_param"
    assert failure["error_details"] == ["trip_ids"]
    assert await count_events(session, gateway) == 0

    empty = only_failure(await post(client, gateway, [{**item, "trip_ids": []}]))
    assert (empty["error"], empty["error_details"]) == ("bad_param", ["trip_ids"])

    item["trip_ids"] = [str(uuid.uuid4())]
    assert (await post(client, gateway, [item])).status_code == 201
    assert set(await stored(session, gateway)) == {item["event_id"]}


@pytest.mark.parametrize(
    ("mode", "state", "types"),
    [
        (Mode.MICROMOBILITY, "available", ["provider_drop_off"]),
        (Mode.MICROMOBILITY, "non_operational", ["battery_low"]),
        (Mode.DELIVERY_ROBOTS, "elsewhere", ["trip_leave_jurisdiction"]),
        (Mode.CAR_SHARE, "available", ["trip_enter_jurisdiction"]),
        (Mode.PASSENGER_SERVICES, "non_operational", ["trip_enter_jurisdiction"]),
    ],
)
async def test_other_events_need_no_trip_ids(
    client: AsyncClient, tenant: TenantFactory, mode: Mode, state: str, types: list[str]
) -> None:
    gateway = await tenant(mode=mode)
    [device] = await register(client, gateway)
    item = event(gateway, device, vehicle_state=state, event_types=types)
    response = await post(client, gateway, [item])
    assert response.status_code == 201, response.text


# --- several event types in one event ----------------------------------------------------


@pytest.mark.parametrize(
    ("state", "types", "ok"),
    [
        # on_trip -trip_end-> available -battery_low-> non_operational
        ("non_operational", ["trip_end", "battery_low"], True),
        ("available", ["trip_end", "battery_low"], False),
        # The order matters: nothing leaves non_operational by trip_end.
        ("non_operational", ["battery_low", "trip_end"], False),
        ("available", ["battery_low", "trip_end"], False),
        # reserved -reservation_cancel-> available -trip_start-> on_trip
        ("on_trip", ["reservation_cancel", "trip_start"], True),
        ("on_trip", ["reservation_cancel", "battery_low"], False),
    ],
)
async def test_multi_type_events_must_trace_a_path_to_the_state(
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    state: str,
    types: list[str],
    ok: bool,
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    item = event(
        gateway, device, vehicle_state=state, event_types=types, trip_ids=[str(uuid.uuid4())]
    )
    response = await post(client, gateway, [item])
    if ok:
        assert response.status_code == 201, response.text
        assert (await stored(session, gateway))[item["event_id"]][1] == item
    else:
        failure = only_failure(response)
        assert (failure["error"], failure["error_details"]) == ("bad_param", ["event_types"])
        assert await count_events(session, gateway) == 0


# --- field validation ---------------------------------------------------------------------


@pytest.mark.parametrize("field", REQUIRED)
async def test_each_missing_required_field_is_missing_param(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, field: str
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    item = event(gateway, device)
    del item[field]
    failure = only_failure(await post(client, gateway, [item]))
    assert failure["error"] == "missing_param"
    assert failure["error_details"] == [field]
    assert failure["item"] == item
    assert await count_events(session, gateway) == 0


async def test_location_or_event_geographies_is_required(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    item = event(gateway, device)
    del item["location"]
    failure = only_failure(await post(client, gateway, [item]))
    assert (failure["error"], failure["error_details"]) == ("missing_param", ["location"])
    assert await count_events(session, gateway) == 0

    geographic = {**item, "event_geographies": [str(uuid.uuid4())]}
    response = await post(client, gateway, [geographic])
    assert response.status_code == 201, response.text
    assert (await stored(session, gateway))[item["event_id"]][1] == geographic


def _bad_values() -> list[tuple[str, dict[str, Any]]]:
    ts = now_ms() - 60_000
    return [
        ("device_id", {"device_id": str(uuid.uuid4()).upper()}),
        ("device_id", {"device_id": "not-a-uuid"}),
        ("event_id", {"event_id": str(uuid.uuid4()).upper()}),
        ("provider_id", {"provider_id": "ABC"}),
        ("trip_ids.0", {"trip_ids": [str(uuid.uuid4()).upper()]}),
        ("timestamp", {"timestamp": EARLIEST_MS - 1}),
        ("timestamp", {"timestamp": ts + 0.5}),
        ("timestamp", {"timestamp": str(ts)}),
        ("battery_percent", {"battery_percent": 101}),
        ("battery_percent", {"battery_percent": -1}),
        ("fuel_percent", {"fuel_percent": 50.5}),
        ("colour", {"colour": "gr\u0000een"}),
        ("event_types", {"event_types": []}),
        ("event_types", {"event_types": "provider_drop_off"}),
        ("location.lat", {"location": {"lat": 91.0, "lng": 12.0}}),
        ("event_geographies.0", {"event_geographies": ["nope"]}),
        ("associated_ticket", {"associated_ticket": "x" * 256}),
    ]


@pytest.mark.parametrize(("field", "change"), _bad_values())
async def test_each_bad_value_is_bad_param_naming_the_field(
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    field: str,
    change: dict[str, Any],
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    failure = only_failure(await post(client, gateway, [event(gateway, device, **change)]))
    assert failure["error"] == "bad_param"
    assert failure["error_details"] == [field]
    assert await count_events(session, gateway) == 0


async def test_timestamp_beyond_the_future_skew_is_bad_param(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, settings: Settings
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    skew_ms = settings.telemetry.max_future_skew_s * 1000
    too_far = event(gateway, device, timestamp=now_ms() + skew_ms + 30_000)
    failure = only_failure(await post(client, gateway, [too_far]))
    assert (failure["error"], failure["error_details"]) == ("bad_param", ["timestamp"])
    assert await count_events(session, gateway) == 0


async def test_timestamps_at_the_limits_are_accepted(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, settings: Settings
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    # The server's clock reads no earlier than ours did, so this is within its skew.
    latest = now_ms() + settings.telemetry.max_future_skew_s * 1000
    edges = [
        event(gateway, device, timestamp=EARLIEST_MS),
        event(gateway, device, timestamp=latest, battery_percent=100, fuel_percent=0),
    ]
    response = await post(client, gateway, edges)
    assert response.status_code == 201, response.text
    assert set(await stored(session, gateway)) == {e["event_id"] for e in edges}


async def test_provider_id_of_another_provider_is_bad_param(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    other = await tenant()
    [device] = await register(client, gateway)
    item = event(gateway, device, provider_id=str(other.provider_id))
    failure = only_failure(await post(client, gateway, [item]))
    assert (failure["error"], failure["error_details"]) == ("bad_param", ["provider_id"])
    assert await count_events(session, gateway) == 0
    assert await count_events(session, other) == 0


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'{"device_id": "x"}', b""])
async def test_body_that_is_not_a_non_empty_array_is_400(
    client: AsyncClient, tenant: TenantFactory, content: bytes
) -> None:
    gateway = await tenant()
    json_headers = {**gateway.headers, "Content-Type": "application/json"}
    response = await client.post(EVENTS, headers=json_headers, content=content)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "bad_param"
    assert body["error_details"] == ["body"]


# --- all or nothing, registration, idempotency ------------------------------------------


async def test_one_bad_event_rejects_the_batch_listing_each_bad_item(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    good = event(gateway, device)
    bad_state = event(gateway, device, vehicle_state="reserved")
    missing = event(gateway, device)
    del missing["event_id"]
    future = event(gateway, device, timestamp=now_ms() + HOUR_MS)
    response = await post(client, gateway, [good, bad_state, missing, future, "not an object"])
    assert response.status_code == 400
    body = response.json()
    assert (body["success"], body["total"]) == (0, 5)
    assert_failure_shape(body)
    assert sorted((f["error"], tuple(f["error_details"])) for f in body["failures"]) == [
        ("bad_param", ("event_types",)),
        ("bad_param", ("item",)),
        ("bad_param", ("timestamp",)),
        ("missing_param", ("event_id",)),
    ]
    assert good not in [f["item"] for f in body["failures"]]
    assert await count_events(session, gateway) == 0


async def test_a_context_failure_among_valid_events_rejects_the_batch(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    # Every item passes the schema, so only the mode and clock checks can refuse.
    gateway = await tenant()
    devices = await register(client, gateway, 3)
    items = [event(gateway, d) for d in devices]
    items[1]["vehicle_state"] = "on_trip"
    response = await post(client, gateway, items)
    assert response.status_code == 400
    body = response.json()
    assert (body["success"], body["total"]) == (0, 3)
    assert [f["item"] for f in body["failures"]] == [items[1]]
    assert await count_events(session, gateway) == 0


async def test_unknown_and_foreign_devices_are_404_unregistered_and_nothing_is_stored(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    other = await tenant()
    [mine] = await register(client, gateway)
    [theirs] = await register(client, other)
    items = [event(gateway, mine), event(gateway, str(uuid.uuid4())), event(gateway, theirs)]
    response = await post(client, gateway, items)
    assert response.status_code == 404
    body = response.json()
    assert (body["success"], body["total"]) == (0, 3)
    assert_valid(response_validator("agency", "/events", "post", 404), body)
    assert [f["item"] for f in body["failures"]] == items[1:]
    assert {f["error"] for f in body["failures"]} == {"unregistered"}
    assert await count_events(session, gateway) == 0
    assert await count_events(session, other) == 0


async def test_replaying_a_batch_is_accepted_and_stores_each_event_once(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    devices = await register(client, gateway, 2)
    start = now_ms() - HOUR_MS
    items = [event(gateway, d, timestamp=start + i) for i, d in enumerate(devices * 2)]
    for _ in range(2):
        response = await post(client, gateway, items)
        assert response.status_code == 201, response.text
        assert (response.json()["success"], response.json()["total"]) == (4, 4)
    rows = await stored(session, gateway)
    assert await count_events(session, gateway) == len(rows) == 4
    assert {event_id: record for event_id, (_, record) in rows.items()} == {
        e["event_id"]: e for e in items
    }


# --- uniqueness, and what reaches the live state ----------------------------------------


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("event_types", {"vehicle_state": "missing", "event_types": ["unspecified"] * 2}),
        ("trip_ids", {"vehicle_state": "on_trip", "event_types": ["trip_start"]}),
        ("event_geographies", {}),
    ],
)
async def test_repeated_items_in_arrays_mds_makes_unique_are_bad_param(
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    field: str,
    change: dict[str, Any],
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    item = event(gateway, device, **change)
    if field in {"trip_ids", "event_geographies"}:
        item[field] = [str(uuid.uuid4())] * 2
    failure = only_failure(await post(client, gateway, [item]))
    assert (failure["error"], failure["error_details"]) == ("bad_param", [field])
    assert await count_events(session, gateway) == 0


async def test_an_event_id_twice_in_one_batch_is_bad_param(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    first = event(gateway, device)
    again = {**first, "vehicle_state": "non_operational", "event_types": ["battery_low"]}
    response = await post(client, gateway, [first, again])
    assert response.status_code == 400, response.text
    assert response.json()["failures"][0]["error_details"] == ["event_id"]
    assert await count_events(session, gateway) == 0


async def test_a_replayed_event_id_with_other_content_leaves_the_live_state_alone(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    original = event(gateway, device)
    altered = {**original, "vehicle_state": "non_operational", "event_types": ["battery_low"]}
    assert (await post(client, gateway, [original])).status_code == 201
    assert (await post(client, gateway, [altered])).status_code == 201
    assert (await stored(session, gateway))[original["event_id"]][1] == original
    assert gateway.provider_id is not None
    [live] = await HotState(redis).vehicles(gateway.provider_id, [device])
    assert live is not None
    assert live.state == "available"


# --- anomalies: transitions the table does not allow from the prior state ---------------


async def anomaly_flags(
    session: AsyncSession, tenant: Tenant, items: list[dict[str, Any]]
) -> list[bool]:
    rows = await stored(session, tenant)
    return [rows[e["event_id"]][0] for e in items]


def reserve(tenant: Tenant, device: str, ts: int) -> dict[str, Any]:
    return event(
        tenant, device, vehicle_state="reserved", event_types=["reservation_start"], timestamp=ts
    )


def battery_low(tenant: Tenant, device: str, ts: int) -> dict[str, Any]:
    return event(
        tenant, device, vehicle_state="non_operational", event_types=["battery_low"], timestamp=ts
    )


def test_the_chosen_pairs_are_what_the_table_says() -> None:
    machine = STATE_MACHINES[Mode.MICROMOBILITY]
    assert not machine.transition_allowed("non_operational", ["reservation_start"], "reserved")
    assert machine.transition_allowed("available", ["reservation_start"], "reserved")
    assert not machine.transition_allowed("reserved", ["battery_low"], "non_operational")


async def test_transition_not_allowed_after_the_stored_prior_is_stored_flagged(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    bad, good = await register(client, gateway, 2)
    t1 = now_ms() - HOUR_MS
    first = [battery_low(gateway, bad, t1), event(gateway, good, timestamp=t1)]
    then = [reserve(gateway, bad, t1 + 1000), reserve(gateway, good, t1 + 1000)]
    assert (await post(client, gateway, first)).status_code == 201
    assert (await post(client, gateway, then)).status_code == 201
    assert await anomaly_flags(session, gateway, first + then) == [False, False, True, False]


async def test_prior_from_an_earlier_event_arriving_later_in_the_same_batch(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    bad, good = await register(client, gateway, 2)
    t1 = now_ms() - HOUR_MS
    batch = [
        reserve(gateway, bad, t1 + 1000),
        reserve(gateway, good, t1 + 1000),
        battery_low(gateway, bad, t1),
        event(gateway, good, timestamp=t1),
    ]
    assert (await post(client, gateway, batch)).status_code == 201
    assert await anomaly_flags(session, gateway, batch) == [True, False, False, False]


async def test_prior_is_the_newest_earlier_event_stored_or_in_the_batch(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    t1 = now_ms() - HOUR_MS
    # Stored: available at t1. Batch: reserved at t3 and, arriving after it, battery low
    # at t2; reserved's prior is then non_operational, not the stored available.
    drop_off = event(gateway, device, timestamp=t1)
    assert (await post(client, gateway, [drop_off])).status_code == 201
    batch = [reserve(gateway, device, t1 + 2000), battery_low(gateway, device, t1 + 1000)]
    assert (await post(client, gateway, batch)).status_code == 201
    assert await anomaly_flags(session, gateway, [drop_off, *batch]) == [False, True, False]


async def test_late_event_is_judged_by_what_came_before_it_not_by_newer_events(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    t1 = now_ms() - HOUR_MS
    # Stored first: available at t1 and reserved at t3. Late: battery low at t2, whose
    # prior is available (allowed), not the newer reserved (which would be flagged).
    stored_first = [event(gateway, device, timestamp=t1), reserve(gateway, device, t1 + 2000)]
    assert (await post(client, gateway, stored_first)).status_code == 201
    late = battery_low(gateway, device, t1 + 1000)
    assert (await post(client, gateway, [late])).status_code == 201
    assert await anomaly_flags(session, gateway, [*stored_first, late]) == [False, False, False]


@pytest.mark.parametrize(
    ("prior_state", "prior_types", "flagged"),
    [("on_trip", ["trip_start"], False), ("available", ["provider_drop_off"], True)],
)
async def test_multi_type_event_is_flagged_by_its_path_from_the_prior(
    client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
    prior_state: str,
    prior_types: list[str],
    flagged: bool,
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    t1 = now_ms() - HOUR_MS
    trip = [str(uuid.uuid4())]
    prior = event(gateway, device, vehicle_state=prior_state, event_types=prior_types, timestamp=t1)
    if prior_state == "on_trip":
        prior["trip_ids"] = trip
    ending = event(
        gateway,
        device,
        vehicle_state="non_operational",
        event_types=["trip_end", "battery_low"],
        trip_ids=trip,
        timestamp=t1 + 1000,
    )
    assert (await post(client, gateway, [prior])).status_code == 201
    assert (await post(client, gateway, [ending])).status_code == 201
    assert await anomaly_flags(session, gateway, [prior, ending]) == [False, flagged]


# --- live state ----------------------------------------------------------------------------


async def test_live_state_follows_the_newest_event_and_late_events_are_still_stored(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, redis: Redis
) -> None:
    gateway = await tenant()
    across, within = await register(client, gateway, 2)
    t2 = now_ms() - 60_000
    t1 = t2 - 30_000
    # Across requests: the newer event first, the older one late.
    newer = event(gateway, across, timestamp=t2)
    late = battery_low(gateway, across, t1)
    assert (await post(client, gateway, [newer])).status_code == 201
    assert (await post(client, gateway, [late])).status_code == 201
    # Within one batch, the newer event first.
    batch = [event(gateway, within, timestamp=t2), battery_low(gateway, within, t1)]
    assert (await post(client, gateway, batch)).status_code == 201

    hot = HotState(redis)
    assert gateway.provider_id is not None
    for live in await hot.vehicles(gateway.provider_id, [across, within]):
        assert live is not None
        assert (live.state, live.state_ts_ms) == ("available", t2)
    assert set(await stored(session, gateway)) == {e["event_id"] for e in [newer, late, *batch]}

    # A newer event still moves the state.
    t3 = t2 + 1000
    assert (await post(client, gateway, [battery_low(gateway, across, t3)])).status_code == 201
    [live] = await hot.vehicles(gateway.provider_id, [across])
    assert live is not None
    assert (live.state, live.state_ts_ms) == ("non_operational", t3)


# --- limits, roles, versions -------------------------------------------------------------


async def test_batch_over_the_configured_limit_is_413(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, settings: Settings
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    items = [event(gateway, device) for _ in range(settings.telemetry.max_batch + 1)]
    response = await post(client, gateway, items)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert f"at most {settings.telemetry.max_batch}" in response.json()["error_description"]
    assert await count_events(session, gateway) == 0


@pytest.fixture
async def small_batch_client(connection: AsyncConnection) -> AsyncIterator[AsyncClient]:
    """A client of an app allowing 3 items per batch, its sessions in the test transaction."""
    app = create_app(make_settings(telemetry=TelemetrySettings(max_batch=3)))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as http,
    ):
        with bound_to(app, connection):
            yield http


async def test_the_limit_is_the_configured_one_and_inclusive(
    client: AsyncClient,
    small_batch_client: AsyncClient,
    tenant: TenantFactory,
    session: AsyncSession,
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    start = now_ms() - HOUR_MS
    items = [event(gateway, device, timestamp=start + i) for i in range(4)]
    too_many = await post(small_batch_client, gateway, items)
    assert too_many.status_code == 413
    assert "at most 3" in too_many.json()["error_description"]
    # Size is checked before anything else: bad items over the limit are still 413.
    assert (await post(small_batch_client, gateway, [{}] * 4)).status_code == 413
    assert await count_events(session, gateway) == 0
    assert (await post(small_batch_client, gateway, items[:3])).status_code == 201
    assert await count_events(session, gateway) == 3


@pytest.mark.parametrize("role", [Role.FIELD_AGENT, Role.OPERATOR_MANAGER])
async def test_keys_without_events_write_are_403(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession, role: Role
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    agent = await tenant(role, provider_id=gateway.provider_id)
    response = await post(client, agent, [event(gateway, device)])
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert await count_events(session, gateway) == 0


async def test_unsupported_version_is_406(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    [device] = await register(client, gateway)
    response = await post(
        client, gateway, [event(gateway, device)], Accept="application/vnd.mds+json;version=1.2"
    )
    assert response.status_code == 406
    assert response.json()["error"] == "unsupported_version"
    assert await count_events(session, gateway) == 0
