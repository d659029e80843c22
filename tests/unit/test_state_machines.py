"""MDS 2.0 vehicle state machines (pure), proven against the spec text when it is present."""

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.core.auth import Mode
from fleet.events.state_machines import STATE_MACHINES, Transition

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MODES = list(Mode)
TICKED = re.compile(r"`([^`]*)`")

# Where the spec contradicts itself, and which side the module takes (see the module).
# Passenger services' Trip ID list names `customer_cancellation`; its event is
# `passenger_cancellation`, which its schema requires trip_ids for.
TRIP_TYPES_NOT_IN_PROSE = {Mode.PASSENGER_SERVICES: {"passenger_cancellation"}}
# The prose "Event Types" lists against the tables: (listed only, tabled only).
EVENT_LIST_MISMATCH = {
    Mode.MICROMOBILITY: (set[str](), set[str]()),
    Mode.DELIVERY_ROBOTS: ({"compliance_pick_up", "recommission"}, {"recommissioned"}),
    Mode.PASSENGER_SERVICES: (set[str](), {"decommissioned", "recommissioned"}),
    Mode.CAR_SHARE: (set[str](), {"decommissioned", "recommissioned"}),
}


# --- the spec text --------------------------------------------------------------------


@pytest.fixture(scope="module")
def mds() -> Path:
    """The MDS 2.0 folder, or skip: a clone without the shared specs still passes."""
    default = PROJECT_ROOT.parent / "shared" / "specs"
    path = Path(os.environ.get("FLEETBED_SPECS_DIR", default)) / "mds-2.0"
    if not (path / "spec" / "modes").is_dir():
        pytest.skip(f"MDS 2.0 spec text not found at {path}; set FLEETBED_SPECS_DIR")
    return path


def mode_doc(mds: Path, mode: Mode) -> list[str]:
    return (mds / "spec" / "modes" / f"{mode}.md").read_text().splitlines()


def section(lines: list[str], heading: str) -> list[str]:
    """The lines under the `### ...` heading matching `heading`, up to the next heading."""
    start = next(i for i, line in enumerate(lines) if re.fullmatch(heading, line.strip()))
    body = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        body.append(line)
    return body


def cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def names(text: str) -> list[str]:
    # Strip, as some cells read "`on_trip `".
    return [name.strip() for name in TICKED.findall(text)]


def spec_transitions(mds: Path, mode: Mode) -> set[Transition]:
    """Every (from, event, to) of the mode's "Vehicle State(s) Events" table."""
    table = [
        line
        for line in section(mode_doc(mds, mode), r"### Vehicle States? Events")
        if line.startswith("|")
    ]
    header = cells(table[0])
    from_col = next(i for i, h in enumerate(header) if h.startswith("**From**"))
    to_col = next(i for i, h in enumerate(header) if h.startswith("**To**"))
    event_col = header.index("`event_type`")
    assert set(cells(table[1])[0]) <= set("-:"), "the second line is the delimiter row"
    found = set()
    for row in table[2:]:
        row_cells = cells(row)
        froms = names(row_cells[from_col])  # some From cells list several states
        (to_state,) = names(row_cells[to_col])
        (event_type,) = names(row_cells[event_col])
        assert froms, row
        found |= {Transition(f, event_type, to_state) for f in froms}
    return found


def listed(mds: Path, mode: Mode, heading: str) -> set[str]:
    """The bulleted names under a mode's "Vehicle States" or "Event Types" heading."""
    return {
        m.group(1)
        for line in section(mode_doc(mds, mode), heading)
        if (m := re.match(r"- `([^`]+)`", line))
    }


def schema(mds: Path, mode: Mode) -> Any:
    return yaml.safe_load((mds / "models" / "modes" / str(mode) / "event.yaml").read_text())


def schema_pairings(mds: Path, mode: Mode) -> dict[str, set[str]]:
    """vehicle_state → the event types its `oneOf` branch allows."""
    return {
        branch["properties"]["vehicle_state"]["const"]: set(
            branch["properties"]["event_types"]["items"]["enum"]
        )
        for branch in schema(mds, mode)["oneOf"]
    }


def enum(mds: Path, name: str) -> set[str]:
    return set(yaml.safe_load((mds / "models" / "data-types" / name).read_text())["enum"])


# --- the module equals the spec -----------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_transitions_are_the_spec_table(mds: Path, mode: Mode) -> None:
    assert STATE_MACHINES[mode].transitions == spec_transitions(mds, mode)


@pytest.mark.parametrize("mode", MODES)
def test_states_and_event_types_are_the_mode_schema_enums(mds: Path, mode: Mode) -> None:
    machine = STATE_MACHINES[mode]
    pairings = schema_pairings(mds, mode)
    assert machine.states == set(pairings)
    assert machine.event_types == set().union(*pairings.values())
    # Per state too: the schema allows exactly the event types of rows into that state.
    for state, allowed in pairings.items():
        assert {t.event_type for t in machine.transitions if t.to_state == state} == allowed


@pytest.mark.parametrize("mode", MODES)
def test_states_are_the_prose_list_and_the_global_enum_holds_them(mds: Path, mode: Mode) -> None:
    machine = STATE_MACHINES[mode]
    assert machine.states == listed(mds, mode, r"### Vehicle States")
    assert machine.states <= enum(mds, "vehicle-state.yaml")


@pytest.mark.parametrize("mode", MODES)
def test_event_types_differ_from_the_prose_list_only_where_known(mds: Path, mode: Mode) -> None:
    prose = listed(mds, mode, r"### Event Types")
    event_types = STATE_MACHINES[mode].event_types
    assert (prose - event_types, set(event_types - prose)) == EVENT_LIST_MISMATCH[mode]
    # The tables say `recommissioned`; the global enum only has `recommission`.
    assert event_types - enum(mds, "event-type.yaml") <= {"recommissioned"}


@pytest.mark.parametrize("mode", MODES)
def test_trip_event_types_are_the_trip_id_requirements(mds: Path, mode: Mode) -> None:
    machine = STATE_MACHINES[mode]
    known = set().union(*schema_pairings(mds, mode).values())
    text = "\n".join(section(mode_doc(mds, mode), r"### Trip ID Requirements"))
    required, conditional = set[str](), set[str]()
    for paragraph in text.split("\n\n"):
        # Names the mode does not have (`trip_cancel`, ...) are dropped.
        target = conditional if "pertaining to a trip" in paragraph else required
        target |= set(names(paragraph)) & known
    assert required
    extra = TRIP_TYPES_NOT_IN_PROSE.get(mode, set())
    assert machine.trip_event_types == required | extra
    assert machine.conditional_trip_event_types == conditional
    # The schema's (malformed) `if` lists both kinds.
    trip_if = set(schema(mds, mode)["if"]["properties"]["event_types"]["contains"]["items"])
    assert trip_if == machine.trip_event_types | machine.conditional_trip_event_types


# --- behaviour, without the spec ---------------------------------------------------------

M, D, P, C = Mode.MICROMOBILITY, Mode.DELIVERY_ROBOTS, Mode.PASSENGER_SERVICES, Mode.CAR_SHARE


@pytest.mark.parametrize(
    ("mode", "state", "event_types"),
    [
        (M, "available", ["trip_end"]),
        (M, "on_trip", ["trip_start"]),
        (M, "non_operational", ["battery_low"]),
        (M, "on_trip", ["changed_geographies"]),
        (M, "removed", ["unspecified"]),
        (D, "stopped", ["order_pick_up"]),
        (D, "missing", ["not_located"]),
        (D, "non_operational", ["recommissioned"]),
        (P, "stopped", ["trip_stop"]),
        (P, "available", ["passenger_cancellation"]),
        (C, "stopped", ["charging_start"]),
        (C, "removed", ["maintenance"]),
        (C, "available", ["customer_cancellation"]),
    ],
)
def test_valid_pairings_are_accepted(mode: Mode, state: str, event_types: list[str]) -> None:
    assert STATE_MACHINES[mode].pairing_ok(state, event_types)


@pytest.mark.parametrize(
    ("mode", "state", "event_types"),
    [
        (M, "available", ["trip_start"]),
        (M, "on_trip", ["trip_end"]),
        (M, "missing", ["located"]),
        (M, "stopped", ["trip_start"]),  # no `stopped` in micromobility
        (D, "on_trip", ["order_pick_up"]),
        (D, "available", ["reservation_start"]),
        (P, "non_operational", ["maintenance_pick_up"]),
        (P, "missing", ["comms_lost"]),  # no `missing` in passenger services
        (C, "non_operational", ["maintenance"]),  # car share's leads to `removed`
        (C, "on_trip", ["charging_start"]),
    ],
)
def test_invalid_pairings_are_refused(mode: Mode, state: str, event_types: list[str]) -> None:
    assert not STATE_MACHINES[mode].pairing_ok(state, event_types)


@pytest.mark.parametrize(
    ("mode", "state", "event_types"),
    [
        (M, "available", ["service_start"]),
        (M, "available", ["no_such_event"]),
        (D, "available", ["unspecified"]),
        (D, "removed", ["compliance_pick_up"]),  # in the prose list, in no table row
        (D, "non_operational", ["recommission"]),  # the tables spell it `recommissioned`
        (P, "available", ["customer_cancellation"]),
        (P, "available", ["trip_cancel"]),
        (C, "available", ["passenger_cancellation"]),
        (C, "stopped", ["trip_pause"]),
        (M, "available", []),
        (D, "available", []),
        (P, "available", []),
        (C, "available", []),
    ],
)
def test_unknown_or_no_event_types_are_refused(
    mode: Mode, state: str, event_types: list[str]
) -> None:
    assert not STATE_MACHINES[mode].pairing_ok(state, event_types)


@pytest.mark.parametrize(
    ("mode", "state", "event_types", "ok"),
    [
        # The spec's own example: on_trip → available → non_operational.
        (M, "non_operational", ["trip_end", "battery_low"], True),
        (M, "available", ["trip_end", "battery_low"], False),  # the intermediate state
        (M, "non_operational", ["battery_low", "trip_end"], False),  # order matters
        (M, "available", ["comms_restored", "trip_end"], True),
        (M, "available", ["trip_end", "no_such_event"], False),
        (D, "available", ["order_drop_off", "trip_end"], True),
        (D, "available", ["trip_end", "order_drop_off"], False),
        (P, "on_trip", ["reservation_stop", "trip_start"], True),
        (P, "stopped", ["reservation_stop", "trip_start"], False),
        (C, "available", ["charging_end", "trip_end"], True),
        (C, "available", ["trip_end", "charging_end"], False),
        # No path, but each type leads into the state: the mode schema accepts it.
        (M, "available", ["located", "comms_restored"], True),
        (M, "available", ["trip_end", "comms_restored"], True),
        (M, "available", ["located", "battery_low"], False),
    ],
)
def test_several_event_types_trace_a_path_or_each_lead_to_the_state(
    mode: Mode, state: str, event_types: list[str], ok: bool
) -> None:
    assert STATE_MACHINES[mode].pairing_ok(state, event_types) is ok


@pytest.mark.parametrize(
    ("mode", "prior", "event_types", "state", "ok"),
    [
        (M, "on_trip", ["trip_end"], "available", True),
        (M, "on_trip", ["trip_end", "battery_low"], "non_operational", True),
        (M, "available", ["trip_end"], "available", False),
        (M, "removed", ["trip_start"], "on_trip", False),
        (M, "stopped", ["trip_start"], "on_trip", False),  # not a micromobility state
        (M, None, ["trip_start"], "on_trip", True),
        (D, "stopped", ["trip_start"], "on_trip", True),
        (D, "available", ["trip_start"], "on_trip", False),  # reserve, then stop, first
        (D, None, ["order_pick_up"], "stopped", True),
        (P, "reserved", ["reservation_stop"], "stopped", True),
        (P, "on_trip", ["trip_end"], "available", False),  # stop first
        (P, None, ["trip_end"], "available", True),
        (C, "stopped", ["remote_start"], "stopped", True),
        (C, "elsewhere", ["trip_leave_jurisdiction"], "elsewhere", False),
        (C, None, ["trip_stop"], "stopped", True),
        # Unknown prior: allowed, whatever the pairing; `pairing_ok` judges that.
        (C, None, ["trip_stop"], "available", True),
        # Types that each lead into the state: one must lead there from the prior state.
        (M, "missing", ["located", "comms_restored"], "available", True),
        (M, "non_contactable", ["located", "comms_restored"], "available", True),
        (M, "on_trip", ["located", "comms_restored"], "available", False),
    ],
)
def test_transition_allowed(
    mode: Mode, prior: str | None, event_types: list[str], state: str, ok: bool
) -> None:
    assert STATE_MACHINES[mode].transition_allowed(prior, event_types, state) is ok


@pytest.mark.parametrize(
    ("mode", "event_types", "needed"),
    [
        (M, ["trip_start"], True),
        (M, ["trip_end", "battery_low"], True),
        (M, ["trip_leave_jurisdiction"], True),
        (M, ["battery_low"], False),
        (M, ["reservation_start"], False),
        (D, ["reservation_start"], True),
        (D, ["trip_pause"], True),
        (D, ["comms_lost"], False),
        (D, ["trip_leave_jurisdiction"], False),  # only when pertaining to a trip
        (P, ["passenger_cancellation"], True),
        (P, ["trip_stop"], True),
        (P, ["service_end"], False),
        (P, ["trip_enter_jurisdiction"], False),
        (C, ["customer_cancellation"], True),
        (C, ["comms_restored", "trip_stop"], True),
        (C, ["charging_start"], False),
        (C, [], False),
    ],
)
def test_needs_trip_ids(mode: Mode, event_types: list[str], needed: bool) -> None:
    assert STATE_MACHINES[mode].needs_trip_ids(event_types) is needed


@pytest.mark.parametrize("mode", MODES)
def test_machines_are_self_consistent(mode: Mode) -> None:
    machine = STATE_MACHINES[mode]
    assert machine.mode is mode
    for t in machine.transitions:
        assert {t.from_state, t.to_state} <= machine.states
        assert t.event_type in machine.event_types
    jurisdiction = {"trip_enter_jurisdiction", "trip_leave_jurisdiction"}
    trip_types = machine.trip_event_types | machine.conditional_trip_event_types
    assert jurisdiction <= trip_types <= machine.event_types


def test_a_bare_string_of_event_types_is_refused() -> None:
    machine = STATE_MACHINES[Mode.MICROMOBILITY]
    with pytest.raises(TypeError):
        machine.pairing_ok("available", "trip_end")
    with pytest.raises(TypeError):
        machine.needs_trip_ids("trip_start")
