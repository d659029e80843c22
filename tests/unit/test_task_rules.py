"""The task rules: what a batch opens and closes."""

from datetime import UTC, datetime, timedelta

from fleet.tasks.kinds import TaskKind
from fleet.tasks.rules import (
    Closing,
    Decisions,
    Opening,
    ParkingReport,
    Reading,
    StateChange,
    TaskRules,
    merged,
    on_parking_alerts,
    on_parking_reports,
    on_readings,
    on_states,
    silent_vehicle,
)

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
RULES = TaskRules(battery_below_by_vehicle_type={"bicycle": 40})


def reading(device: str, battery: int | None, vehicle_type: str = "scooter_standing") -> Reading:
    return Reading(device, vehicle_type, battery, 56.0, 12.7)


def test_a_battery_below_the_threshold_opens_a_swap_due_by_the_rule() -> None:
    decided = on_readings([reading("a", 19)], RULES, NOW)
    assert decided.opening == [
        Opening(
            "a",
            TaskKind.BATTERY_SWAP,
            56.0,
            12.7,
            1,
            NOW + timedelta(minutes=240),
            "battery 19 % below 20 %",
        )
    ]


def test_the_threshold_itself_closes_and_vehicle_types_have_their_own() -> None:
    decided = on_readings(
        [reading("a", 20), reading("b", 30, "bicycle"), reading("c", 45, "bicycle")], RULES, NOW
    )
    assert [(o.device_id, o.reason) for o in decided.opening] == [("b", "battery 30 % below 40 %")]
    swaps = {c.device_id for c in decided.closing if c.kind is TaskKind.BATTERY_SWAP}
    assert swaps == {"a", "c"}


def test_every_reading_closes_an_inspection_and_no_battery_touches_no_swap() -> None:
    decided = on_readings([reading("a", None)], RULES, NOW)
    assert decided == Decisions([], [Closing("a", TaskKind.INSPECT, "the vehicle reported again")])


def test_only_parking_alerts_open_relocations_due_by_the_rule() -> None:
    alerts = [
        ("a", "parked_in_no_parking_zone", 56.0, 12.7),
        ("b", "parked_outside_mandatory_hub", 56.1, 12.8),
        ("c", "speeding", 56.2, 12.9),
    ]
    decided = on_parking_alerts(alerts, TaskRules(relocate_due_minutes=15), NOW)
    assert [(o.device_id, o.kind, o.due_at, o.priority) for o in decided.opening] == [
        ("a", TaskKind.RELOCATE, NOW + timedelta(minutes=15), 2),
        ("b", TaskKind.RELOCATE, NOW + timedelta(minutes=15), 2),
    ]


def test_a_valid_trip_end_closes_a_relocation_an_invalid_one_does_not() -> None:
    decided = on_parking_reports(
        [ParkingReport("a", 56.0, 12.7, True), ParkingReport("b", 56.0, 12.7, False)]
    )
    assert decided.closing == [Closing("a", TaskKind.RELOCATE, "parked in a valid place")]


def test_non_operational_opens_a_collection_and_available_closes_it() -> None:
    decided = on_states(
        [
            StateChange("a", "non_operational", None, None),
            StateChange("b", "available", 56.0, 12.7),
            StateChange("c", "on_trip", 56.0, 12.7),
        ],
        RULES,
        NOW,
    )
    assert [(o.device_id, o.kind, o.lat, o.priority) for o in decided.opening] == [
        ("a", TaskKind.COLLECT_FOR_REPAIR, None, 3)
    ]
    assert [(c.device_id, c.kind) for c in decided.closing] == [("b", TaskKind.COLLECT_FOR_REPAIR)]


def test_a_silent_vehicle_is_inspected_where_last_seen() -> None:
    opening = silent_vehicle("a", 56.0, 12.7, TaskRules(inspect_due_minutes=30), NOW)
    assert (opening.kind, opening.lat, opening.due_at) == (
        TaskKind.INSPECT,
        56.0,
        NOW + timedelta(minutes=30),
    )
    assert opening.reason == "no telemetry for 12 h"


def test_merging_keeps_the_first_opening_and_an_opening_beats_a_closing() -> None:
    first = on_parking_alerts([("a", "parked_in_no_parking_zone", 1.0, 1.0)], RULES, NOW)
    second = on_parking_alerts([("a", "parked_outside_mandatory_hub", 2.0, 2.0)], RULES, NOW)
    closing = on_parking_reports([ParkingReport("a", 3.0, 3.0, True)])
    decided = merged(first, second, closing)
    assert [(o.device_id, o.lat) for o in decided.opening] == [("a", 1.0)]
    assert decided.closing == []


def test_knowing_the_active_tasks_decides_only_what_changes_something() -> None:
    readings = [reading("a", 10), reading("b", 10), reading("c", 90), reading("d", 90)]
    active = {("b", "battery_swap"), ("c", "battery_swap"), ("d", "inspect")}
    decided = on_readings(readings, RULES, NOW, active)
    assert [o.device_id for o in decided.opening] == ["a"]
    assert [(c.device_id, c.kind) for c in decided.closing] == [
        ("c", TaskKind.BATTERY_SWAP),
        ("d", TaskKind.INSPECT),
    ]
    unknown = on_readings(readings, RULES, NOW)
    assert [o.device_id for o in unknown.opening] == ["a", "b"]
    assert len(unknown.closing) == 6
