"""MDS vehicle validation into bulk failures (pure)."""

import uuid
from typing import Any

from app.core.auth import Mode
from fleet.vehicles.mds_schema import validate_vehicles

PROVIDER = uuid.uuid4()


def item(**fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "device_id": str(uuid.uuid4()),
        "provider_id": str(PROVIDER),
        "vehicle_id": "A1",
        "vehicle_type": "bicycle",
        "propulsion_types": ["human"],
    }
    record.update(fields)
    return record


def test_valid_items_come_back_in_order() -> None:
    items = [item(), item(vehicle_type="moped", propulsion_types=["electric"])]
    valid, failures = validate_vehicles(items, mode=Mode.MICROMOBILITY, provider_id=PROVIDER)
    assert failures == []
    assert [v["device_id"] for v in valid] == [i["device_id"] for i in items]


def test_missing_and_bad_fields_of_one_item_are_two_failures() -> None:
    record = item(vehicle_type="jet")
    del record["vehicle_id"]
    _, failures = validate_vehicles([record], mode=Mode.MICROMOBILITY, provider_id=PROVIDER)
    assert [(f.error, f.error_details) for f in failures] == [
        ("missing_param", ["vehicle_id"]),
        ("bad_param", ["vehicle_type"]),
    ]
    assert all(f.item is record for f in failures)


def test_attributes_are_checked_against_the_mode() -> None:
    robot = item(vehicle_attributes={"storage_capacity": 5000})
    assert validate_vehicles([robot], mode=Mode.DELIVERY_ROBOTS, provider_id=PROVIDER)[1] == []
    _, failures = validate_vehicles([robot], mode=Mode.MICROMOBILITY, provider_id=PROVIDER)
    assert failures[0].error_details == ["vehicle_attributes.storage_capacity"]


def test_the_same_device_twice_fails_only_the_repeat() -> None:
    record = item()
    valid, failures = validate_vehicles(
        [record, dict(record)], mode=Mode.MICROMOBILITY, provider_id=PROVIDER
    )
    assert len(valid) == 1
    assert [f.error_details for f in failures] == [["device_id"]]
