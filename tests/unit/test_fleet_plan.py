"""The demo fleet plan shared by `demo seed` and `simulate`."""

from collections import Counter

import pytest

from demo.city import OPERATORS, demo_id
from demo.fleet_plan import plan_fleet, split_total
from fleet.vehicles.mds_schema import validate_vehicles


@pytest.mark.parametrize("total", [0, 1, 7, 50, 300, 1001])
def test_total_is_exact(total: int) -> None:
    assert len(plan_fleet(total)) == total


def test_operators_get_their_share() -> None:
    fleet = plan_fleet(1000)
    per_operator = Counter(v.operator_key for v in fleet)
    for op in OPERATORS:
        assert abs(per_operator[op.key] - 1000 * op.share) <= 1


def test_vehicle_types_follow_fleet_shares() -> None:
    fleet = plan_fleet(1000)
    for op in OPERATORS:
        mine = [v for v in fleet if v.operator_key == op.key]
        types = Counter(v.vehicle_type for v in mine)
        for share in op.fleet:
            assert abs(types[share.vehicle_type] - len(mine) * share.share) <= 1
            kinds = {
                (v.propulsion_types, v.cruise_kph, v.range_km)
                for v in mine
                if v.vehicle_type == share.vehicle_type
            }
            assert kinds == {(share.propulsion, share.cruise_kph, share.range_km)}


def test_plan_is_deterministic() -> None:
    assert plan_fleet(300) == plan_fleet(300)


def test_ids_are_stable_whatever_the_total() -> None:
    small = {v.device_id: v for v in plan_fleet(300)}
    large = {v.device_id: v for v in plan_fleet(1000)}
    assert set(small) <= set(large)
    assert all(large[d] == v for d, v in small.items())


def test_ids_follow_the_contract() -> None:
    fleet = plan_fleet(300)
    first = next(v for v in fleet if v.operator_key == "sundsvik" and v.n == 3)
    assert first.device_id == demo_id("vehicle", "sundsvik", "3")
    assert first.vehicle_id == "SUND-0003"
    # vehicle_id is unique within a provider (both PrintPod providers use "PRIN-").
    assert len({v.device_id for v in fleet}) == 300
    assert len({(v.operator_key, v.vehicle_id) for v in fleet}) == 300
    for op in OPERATORS:
        assert [v.n for v in fleet if v.operator_key == op.key] == list(
            range(sum(v.operator_key == op.key for v in fleet))
        )


def test_split_total_breaks_ties_deterministically() -> None:
    assert split_total(5, [1, 1, 1]) == [2, 2, 1]
    assert split_total(0, [0.5, 0.5]) == [0, 0]
    with pytest.raises(ValueError, match="total"):
        split_total(-1, [1.0])


def test_mds_vehicle_is_valid_in_the_operators_mode() -> None:
    for op in OPERATORS:
        planned = next(v for v in plan_fleet(100) if v.operator_key == op.key)
        record = planned.mds_vehicle(op.provider_id)
        valid, failures = validate_vehicles([record], mode=op.mode, provider_id=op.provider_id)
        assert failures == []
        assert valid[0]["device_id"] == str(planned.device_id)
