"""Zone transitions with hysteresis, violations and parking checks (pure)."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from geofencing.rules import ParkingMode, ZoneKind, ZoneRule
from geofencing.violations import (
    ENTER,
    EXIT,
    LEFT_SERVICE_AREA,
    PARKED_IN_NO_PARKING_ZONE,
    PARKED_OUTSIDE_MANDATORY_HUB,
    RESTRICTED_VEHICLE,
    RIDING_IN_NO_RIDE_ZONE,
    SPEEDING,
    AlertLimits,
    Observation,
    Track,
    ZoneFacts,
    evaluate,
    parking_alerts,
    parking_verdict,
)
from tests.unit.observations import ZONES, obs

LIMITS = AlertLimits(min_depth_m=10, min_dwell_s=20, repeat_after_s=300)


def run(
    observations: list[Observation],
    track: Track | None = None,
    depth: float = 1.0,
    vtype: str = "scooter_standing",
) -> tuple[list[tuple[str, str | None, int]], Track]:
    tracks = {"d1": track or Track()}
    alerts = evaluate(observations, tracks, ZONES, {"d1": vtype}, lambda z, a, b: depth, LIMITS)
    return [(a.kind, a.zone_id, a.ts_ms // 1000) for a in alerts], tracks["d1"]


def test_first_observation_sets_sides_silently() -> None:
    alerts, track = run([obs(0, {"area"})])
    assert alerts == []
    assert track.inside == {"area"}


def test_jitter_on_a_boundary_does_not_flap() -> None:
    # Shallow points alternating sides every 5 s never persist for 20 s.
    points = [obs(0, {"area"})] + [obs(t, set() if t % 10 else {"area"}) for t in range(5, 120, 5)]
    alerts, track = run(points, depth=2.0)
    assert alerts == []
    assert track.inside == {"area"}


def test_a_deep_point_changes_sides_at_once() -> None:
    alerts, _ = run([obs(0, {"area"}), obs(1, set())], depth=25.0)
    assert alerts == [(EXIT, "area", 1), (LEFT_SERVICE_AREA, "area", 1)]


def test_persisting_on_the_other_side_changes_sides_after_the_dwell() -> None:
    points = [
        obs(0, set()),
        obs(5, {"area"}),
        obs(15, {"area"}),
        obs(25, {"area"}),
        obs(30, {"area"}),
    ]
    alerts, track = run(points, depth=2.0)
    assert alerts == [(ENTER, "area", 25)]
    assert track.inside == {"area"}
    assert track.pending == {}


def test_the_track_survives_between_batches() -> None:
    _, track = run([obs(0, set()), obs(5, {"area"})], depth=2.0)
    restored = Track.decode(track.encode())
    assert restored == track
    alerts, _ = run([obs(26, {"area"})], restored, depth=2.0)
    assert alerts == [(ENTER, "area", 26)]


def test_late_points_do_not_move_sides() -> None:
    _, track = run([obs(100, {"area"})])
    alerts, track = run([obs(50, set())], track, depth=50.0)
    assert alerts == []
    assert track.inside == {"area"}


@pytest.mark.parametrize(
    ("speed", "expected"), [(10 / 3.6 + 0.1, [SPEEDING]), (10 / 3.6 - 0.1, []), (None, [])]
)
def test_speeding_in_slow_zones(speed: float | None, expected: list[str]) -> None:
    alerts, _ = run([obs(0, {"slow"}, speed=speed)])
    assert [kind for kind, _, _ in alerts] == expected


def test_violations_repeat_only_after_the_window() -> None:
    fast = 30 / 3.6
    alerts, _ = run([obs(t, {"slow"}, speed=fast) for t in (0, 10, 299, 301, 400)])
    assert [(kind, ts) for kind, _, ts in alerts] == [(SPEEDING, 0), (SPEEDING, 301)]


def test_riding_in_no_ride_zones_needs_a_moving_trip() -> None:
    assert [k for k, _, _ in run([obs(0, {"noride"}, trip=True)])[0]] == [RIDING_IN_NO_RIDE_ZONE]
    assert run([obs(0, {"noride"}, trip=False)])[0] == []
    assert run([obs(0, {"noride"}, speed=0.1)])[0] == []


def test_restricted_zones_bind_their_vehicle_types() -> None:
    assert [k for k, _, _ in run([obs(0, {"nomoped"})], vtype="moped")[0]] == [RESTRICTED_VEHICLE]
    assert run([obs(0, {"nomoped"})], vtype="bicycle")[0] == []


def test_retired_zones_are_forgotten() -> None:
    _, track = run([obs(0, {"area", "slow"})])
    track.inside.add("gone")
    track.pending["gone"] = 0
    alerts, track = run([obs(1, {"area", "slow"})], track)
    assert alerts == []
    assert "gone" not in track.inside
    assert "gone" not in track.pending


def test_parking_alerts() -> None:
    no_parking = ZoneFacts("np", ZoneRule(ZoneKind.NO_PARKING))
    hub = ZoneFacts("hub", ZoneRule(ZoneKind.PARKING, parking=ParkingMode.MANDATORY))
    preferred = ZoneFacts("pref", ZoneRule(ZoneKind.PARKING, parking=ParkingMode.PREFERRED))

    def kinds(here: list[ZoneFacts], hubs: bool) -> list[str]:
        verdict = parking_verdict(here, hubs)
        return [a.kind for a in parking_alerts("d", 0, 56.0, 12.7, verdict)]

    def category(here: list[ZoneFacts], hubs: bool) -> str:
        return parking_verdict(here, hubs).category

    assert kinds([no_parking], hubs=False) == [PARKED_IN_NO_PARKING_ZONE]
    assert kinds([], hubs=True) == [PARKED_OUTSIDE_MANDATORY_HUB]
    assert kinds([preferred], hubs=True) == [PARKED_OUTSIDE_MANDATORY_HUB]
    assert kinds([hub], hubs=True) == []
    assert kinds([], hubs=False) == []
    # The MDS category agrees with the alerts.
    assert category([no_parking], hubs=False) == "invalid"
    assert category([], hubs=True) == "invalid"
    assert category([preferred], hubs=True) == "invalid"
    assert category([hub], hubs=True) == "corral"
    assert category([preferred], hubs=False) == "corral"
    assert category([], hubs=False) == "other_valid"


def test_zone_rules_bind_by_provider_type_and_time() -> None:
    stockholm = ZoneInfo("Europe/Stockholm")
    rule = ZoneRule(
        ZoneKind.NO_PARKING,
        vehicle_types=frozenset({"bicycle"}),
        start_time=time(22),
        end_time=time(6),
        provider_id="p1",
    )
    night = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)  # 00:30 local
    noon = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)
    assert rule.applies(night, stockholm, "bicycle", "p1")
    assert not rule.applies(noon, stockholm, "bicycle", "p1")
    assert not rule.applies(night, stockholm, "moped", "p1")
    assert not rule.applies(night, stockholm, "bicycle", "p2")
