"""GBFS geofencing_zones.json (pure): a GBFS reader resolving the feed gets fleetbed's rules."""

import json
import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import LinearRing, MultiPolygon, Point, Polygon, box, shape

from fleet.gbfs.geofencing import FenceZone, geofencing_data
from geofencing.rules import ParkingMode, ZoneKind
from tests.gbfs_schemas import assert_gbfs_valid

TYPE_IDS = {"scooter": ["scooter-pro", "scooter-std"], "bicycle": ["bike"], "moped": ["moped"]}
MDS_OF = {t: mds for mds, ids in TYPE_IDS.items() for t in ids}
ALL_TYPES = sorted(MDS_OF)
LANGUAGES = ["sv", "en"]
T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)

K = ZoneKind
# What each kind allows on its own: (start, end, through).
ALLOWS = {
    K.SERVICE_AREA: (True, True, True),
    K.NO_RIDE: (False, False, False),
    K.NO_PARKING: (True, False, True),
    K.SLOW: (True, True, True),
    K.PARKING: (True, True, True),
    K.RESTRICTED: (False, False, False),
}
ALLOWED = {"ride_start_allowed": True, "ride_end_allowed": True, "ride_through_allowed": True}
FENCED = {"ride_start_allowed": False, "ride_end_allowed": False, "ride_through_allowed": True}
CLOSED = {"ride_start_allowed": False, "ride_end_allowed": False, "ride_through_allowed": False}


def mp(*polygons: Polygon) -> MultiPolygon:
    return MultiPolygon(list(polygons))


def zone(zone_id: str, kind: ZoneKind, geometry: Polygon | MultiPolygon, **kw: Any) -> FenceZone:
    if isinstance(geometry, Polygon):
        geometry = mp(geometry)
    return FenceZone(zone_id, kw.pop("name", zone_id.title()), kind, geometry, **kw)


def build(zones: Sequence[FenceZone], type_ids: Any = TYPE_IDS) -> dict[str, Any]:
    return geofencing_data(zones, type_ids, LANGUAGES)


def features(data: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = data["geofencing_zones"]["features"]
    return found


def names(data: dict[str, Any]) -> list[str]:
    return [f["properties"]["name"][0]["text"] for f in features(data)]


def rules_of(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    (feature,) = (f for f in features(data) if f["properties"]["name"][0]["text"] == name)
    found: list[dict[str, Any]] = feature["properties"]["rules"]
    return found


def rule_for(rules: list[dict[str, Any]], gbfs_type: str) -> dict[str, Any] | None:
    """GBFS: the first rule of a list that names the type, or names none."""
    for rule in rules:
        if gbfs_type in rule.get("vehicle_type_ids", [gbfs_type]):
            return {k: v for k, v in rule.items() if k != "vehicle_type_ids"}
    return None


# --- a GBFS reader, and what fleetbed enforces ----------------------------------------


def in_force(start: datetime | None, end: datetime | None, at: datetime) -> bool:
    return (start is None or start <= at) and (end is None or at < end)


def published_period(feature: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    props = feature["properties"]
    start, end = props.get("start"), props.get("end")
    return (
        None if start is None else datetime.fromisoformat(start),
        None if end is None else datetime.fromisoformat(end),
    )


class Reader:
    """Resolves a feed by GBFS precedence: the first feature in force containing the point
    with a rule for the type, its first rule for the type; else the global rules."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.shapes = [shape(f["geometry"]) for f in features(data)]

    def resolve(
        self, lng: np.ndarray, lat: np.ndarray, gbfs_type: str, at: datetime
    ) -> list[dict[str, Any]]:
        inside = [shapely.contains_xy(s, lng, lat) for s in self.shapes]
        return [self._at(i, inside, gbfs_type, at) for i in range(len(lng))]

    def _at(self, i: int, inside: list[Any], gbfs_type: str, at: datetime) -> dict[str, Any]:
        for feature, covers in zip(features(self.data), inside, strict=True):
            if covers[i] and in_force(*published_period(feature), at):
                rule = rule_for(feature["properties"]["rules"], gbfs_type)
                if rule is not None:
                    return rule
        rule = rule_for(self.data["global_rules"], gbfs_type)
        assert rule is not None, f"global rules miss {gbfs_type}"
        return rule


def binds(z: FenceZone, gbfs_type: str) -> bool:
    return z.vehicle_types is None or MDS_OF[gbfs_type] in z.vehicle_types


def mandatory_hub(z: FenceZone) -> bool:
    return z.kind is K.PARKING and z.parking is ParkingMode.MANDATORY


def enforced(
    zones: Sequence[FenceZone], point: Point, gbfs_type: str, at: datetime
) -> dict[str, Any]:
    """fleetbed: every zone in force here that binds the type applies; outside them all,
    no start or end outside a service area; only hubs to park at when a mandatory hub binds.

    Whether a service area or a mandatory hub binds the type is taken whatever their times:
    global rules have none in GBFS."""
    bound = [z for z in zones if z.kind is not K.DISTRICT and binds(z, gbfs_type)]
    here = [z for z in bound if z.geometry.contains(point) and in_force(z.start, z.end, at)]
    areas = [z for z in bound if z.kind is K.SERVICE_AREA]
    outside = bool(areas) and not any(z.geometry.contains(point) for z in areas)
    if here:
        allows = [ALLOWS[z.kind] for z in here]
        rule: dict[str, Any] = {
            "ride_start_allowed": all(a[0] for a in allows),
            "ride_end_allowed": all(a[1] for a in allows),
            "ride_through_allowed": all(a[2] for a in allows),
        }
        limits = [z.max_speed_kph for z in here if z.kind is K.SLOW and z.max_speed_kph is not None]
        if limits:
            rule["maximum_speed_kph"] = min(limits)
        if outside:  # no zone lifts the service areas' fence
            rule["ride_start_allowed"] = rule["ride_end_allowed"] = False
    else:
        rule = dict(FENCED if areas else ALLOWED)
    if any(mandatory_hub(z) for z in bound) and not any(mandatory_hub(z) for z in here):
        rule["station_parking"] = True
    return rule


def assert_resolves_as_enforced(
    zones: Sequence[FenceZone], data: dict[str, Any], at: datetime, steps: int
) -> list[Point]:
    """Every grid point off the zones' boundaries resolves, for every type, as enforced."""
    grid_lng, grid_lat = np.meshgrid(
        np.linspace(12.687, 12.722, steps), np.linspace(56.027, 56.062, steps)
    )
    lng, lat = grid_lng.ravel(), grid_lat.ravel()
    edges = shapely.union_all([z.geometry.boundary for z in zones])
    away = shapely.distance(edges, shapely.points(lng, lat)) > 1e-6
    lng, lat = lng[away], lat[away]
    reader = Reader(data)
    points = [Point(x, y) for x, y in zip(lng, lat, strict=True)]
    for gbfs_type in ALL_TYPES:
        got = reader.resolve(lng, lat, gbfs_type, at)
        for point, rule in zip(points, got, strict=True):
            want = enforced(zones, point, gbfs_type, at)
            assert rule == want, f"{gbfs_type} at {point.x}, {point.y} at {at}"
    return points


def assert_sound_geometry(data: dict[str, Any]) -> None:
    """RFC 7946 MultiPolygons: closed rings of 4+ positions, shells CCW, holes CW, valid."""
    for feature in features(data):
        geometry = feature["geometry"]
        assert geometry["type"] == "MultiPolygon"
        assert geometry["coordinates"], "an empty geometry is published"
        for polygon in geometry["coordinates"]:
            for i, ring in enumerate(polygon):
                assert len(ring) >= 4
                assert ring[0] == ring[-1]
                assert all(round(c, 6) == c for position in ring for c in position)
                assert LinearRing(ring).is_ccw == (i == 0)
        assert shape(geometry).is_valid, shapely.is_valid_reason(shape(geometry))


# --- the city ------------------------------------------------------------------------


def city() -> list[FenceZone]:
    """Helsingborg: overlaps of up to four zones, a hub in a no-parking zone's hole."""
    square_hole = box(12.699, 56.043, 12.703, 56.047).exterior.coords
    return [
        zone(
            "sa",
            K.SERVICE_AREA,
            box(12.690, 56.030, 12.716, 56.056),
            name="Centrum",
            vehicle_types=frozenset({"scooter", "bicycle"}),
        ),
        zone(
            "np",
            K.NO_PARKING,
            Polygon(box(12.695, 56.040, 12.708, 56.050).exterior.coords, [square_hole]),
            name="Stortorget",
            vehicle_types=frozenset({"scooter"}),
        ),
        zone(
            "hub",
            K.PARKING,
            box(12.700, 56.044, 12.702, 56.046),
            name="Hamnhubben",
            vehicle_types=frozenset({"scooter"}),
            parking=ParkingMode.MANDATORY,
        ),
        zone(
            "hub2",
            K.PARKING,
            box(12.706, 56.048, 12.710, 56.052),
            name="Knutpunkten",
            parking=ParkingMode.PREFERRED,
        ),
        zone(
            "slow",
            K.SLOW,
            Polygon([(12.704, 56.034), (12.712, 56.036), (12.714, 56.059), (12.706, 56.057)]),
            name="Kullagatan",
            max_speed_kph=10,
        ),
        zone(
            "slow2",
            K.SLOW,
            box(12.709, 56.040, 12.719, 56.046),
            name="Strandvägen",
            vehicle_types=frozenset({"bicycle"}),
            max_speed_kph=15,
        ),
        zone(
            "restricted",
            K.RESTRICTED,
            Polygon([(12.710, 56.045), (12.718, 56.047), (12.716, 56.055), (12.709, 56.053)]),
            name="Hamntorget",
            vehicle_types=frozenset({"moped"}),
        ),
        zone("noride", K.NO_RIDE, box(12.692, 56.052, 12.698, 56.058), name="Konserthuset"),
        zone("district", K.DISTRICT, box(12.680, 56.020, 12.730, 56.070), name="Norr"),
    ]


def timed() -> list[FenceZone]:
    """Zones in force at different times, overlapping a service area."""
    stockholm = ZoneInfo("Europe/Stockholm")
    return [
        zone("sa", K.SERVICE_AREA, box(12.690, 56.030, 12.716, 56.056), name="Centrum"),
        zone(
            "event",
            K.NO_RIDE,
            box(12.695, 56.035, 12.705, 56.045),
            name="Julmarknad",
            start=T0,
            end=T0 + timedelta(hours=2),
        ),
        zone(
            "works",
            K.SLOW,
            box(12.700, 56.040, 12.720, 56.050),
            name="Vägarbete",
            max_speed_kph=6,
            start=(T0 + timedelta(hours=1)).astimezone(stockholm),
            end=T0 + timedelta(hours=4),
        ),
        zone(
            "hub",
            K.PARKING,
            box(12.702, 56.042, 12.704, 56.044),
            name="Tillfällig hubb",
            parking=ParkingMode.MANDATORY,
            vehicle_types=frozenset({"scooter"}),
            end=T0 + timedelta(hours=3),
        ),
    ]


# --- the official schema -------------------------------------------------------------


@pytest.mark.parametrize(
    ("zones", "type_ids"),
    [(city(), TYPE_IDS), (timed(), TYPE_IDS), (city(), {}), ([], TYPE_IDS)],
    ids=["city", "timed", "no-types", "no-zones"],
)
def test_feed_is_valid_by_the_official_schema(zones: list[FenceZone], type_ids: Any) -> None:
    data = build(zones, type_ids)
    feed = {"last_updated": "2026-12-07T10:00:00Z", "ttl": 60, "version": "3.0", "data": data}
    assert_gbfs_valid("geofencing_zones", feed)
    assert_sound_geometry(data)
    assert json.loads(json.dumps(data)) == data


# --- one zone at a time --------------------------------------------------------------

SQUARE = box(12.700, 56.040, 12.705, 56.045)


@pytest.mark.parametrize(
    ("kind", "extra", "rule"),
    [
        (K.SERVICE_AREA, {}, ALLOWED),
        (K.NO_RIDE, {}, CLOSED),
        (K.NO_PARKING, {}, {**ALLOWED, "ride_end_allowed": False}),
        (K.SLOW, {"max_speed_kph": 12}, {**ALLOWED, "maximum_speed_kph": 12}),
        (K.SLOW, {}, ALLOWED),
        (K.PARKING, {"parking": ParkingMode.PREFERRED}, ALLOWED),
        (K.PARKING, {"parking": ParkingMode.MANDATORY}, ALLOWED),
        (K.RESTRICTED, {}, CLOSED),
    ],
)
def test_each_kind_has_its_rules(
    kind: ZoneKind, extra: dict[str, Any], rule: dict[str, Any]
) -> None:
    data = build([zone("z", kind, SQUARE, name="Zon", **extra)])
    assert names(data) == ["Zon"]
    assert rules_of(data, "Zon") == [rule]


def test_a_mandatory_hub_makes_other_places_station_parking() -> None:
    scooter = frozenset({"scooter"})
    hub = zone("hub", K.PARKING, SQUARE, parking=ParkingMode.MANDATORY, vehicle_types=scooter)
    area = zone("sa", K.SERVICE_AREA, box(12.690, 56.030, 12.716, 56.056), name="Centrum")
    data = build([hub, area])
    scooters = ["scooter-pro", "scooter-std"]
    assert data["global_rules"] == [
        {"vehicle_type_ids": ["bike", "moped"], **FENCED},
        {"vehicle_type_ids": scooters, **FENCED, "station_parking": True},
    ]
    assert rules_of(data, "Centrum") == [
        {"vehicle_type_ids": ["bike", "moped"], **ALLOWED},
        {"vehicle_type_ids": scooters, **ALLOWED, "station_parking": True},
    ]
    assert rules_of(data, "Hub") == [{"vehicle_type_ids": scooters, **ALLOWED}]
    # Inside the hub, within the service area, the scooters may park anywhere.
    assert rules_of(data, "Hub / Centrum") == [ALLOWED]


def test_a_district_is_not_published() -> None:
    area = zone("sa", K.SERVICE_AREA, SQUARE, name="Centrum")
    district = zone("d", K.DISTRICT, box(12.69, 56.03, 12.72, 56.06), name="Norr")
    assert build([area, district]) == build([area])
    assert names(build([district])) == []


def test_a_zone_binding_only_types_the_system_lacks_is_left_out() -> None:
    cars = zone("cars", K.SERVICE_AREA, SQUARE, vehicle_types=frozenset({"car"}))
    data = build([cars])
    assert features(data) == []
    assert data["global_rules"] == [ALLOWED]


def test_a_restricted_zone_rules_only_its_types() -> None:
    data = build([zone("r", K.RESTRICTED, SQUARE, name="R", vehicle_types=frozenset({"moped"}))])
    assert rules_of(data, "R") == [{"vehicle_type_ids": ["moped"], **CLOSED}]
    assert data["global_rules"] == [ALLOWED]


def test_a_hole_is_kept() -> None:
    hole = box(12.701, 56.041, 12.703, 56.043)
    area = zone("sa", K.SERVICE_AREA, Polygon(SQUARE.exterior.coords, [hole.exterior.coords]))
    (feature,) = features(build([area]))
    (polygon,) = feature["geometry"]["coordinates"]
    assert len(polygon) == 2
    published = shape(feature["geometry"])
    assert not published.contains(Point(12.702, 56.042))
    assert published.contains(Point(12.7005, 56.0405))


# --- global rules --------------------------------------------------------------------


def test_global_rules_without_a_service_area_allow_everything() -> None:
    data = build([zone("slow", K.SLOW, SQUARE, max_speed_kph=20)])
    assert data["global_rules"] == [ALLOWED]


def test_global_rules_fence_in_the_types_of_a_service_area() -> None:
    data = build(city())
    assert data["global_rules"] == [
        {"vehicle_type_ids": ["bike"], **FENCED},
        {"vehicle_type_ids": ["moped"], **ALLOWED},
        {"vehicle_type_ids": ["scooter-pro", "scooter-std"], **FENCED, "station_parking": True},
    ]
    covered = [t for rule in data["global_rules"] for t in rule["vehicle_type_ids"]]
    assert sorted(covered) == ALL_TYPES


def test_without_vehicle_types_zones_binding_all_are_published() -> None:
    some = zone("np", K.NO_PARKING, SQUARE, vehicle_types=frozenset({"scooter"}))
    everyone = zone("sa", K.SERVICE_AREA, box(12.690, 56.030, 12.716, 56.056), name="Centrum")
    data = build([some, everyone], {})
    assert names(data) == ["Centrum"]
    assert rules_of(data, "Centrum") == [ALLOWED]
    assert data["global_rules"] == [FENCED]
    assert build([some], {})["global_rules"] == [ALLOWED]


# --- overlaps ------------------------------------------------------------------------


def test_a_reader_resolves_the_city_as_fleetbed_enforces_it() -> None:
    zones = city()
    data = build(zones)
    points = assert_resolves_as_enforced(zones, data, T0, steps=90)
    # The grid did reach the interesting places.
    covering = [sum(z.geometry.contains(p) for z in zones[:-1]) for p in points]
    assert max(covering) >= 4
    assert any(zones[2].geometry.contains(p) for p in points), "no point in the hub"
    assert "Stortorget / Kullagatan / Centrum" in names(data)


@pytest.mark.parametrize("hours", [-1, 0.5, 1.5, 2.5, 3.5, 5])
def test_a_reader_resolves_zones_in_force_at_times_as_fleetbed(hours: float) -> None:
    zones = timed()
    assert_resolves_as_enforced(zones, build(zones), T0 + timedelta(hours=hours), steps=50)


MDS_TYPES = st.none() | st.frozensets(st.sampled_from(sorted(TYPE_IDS)), min_size=1)


@st.composite
def random_zone(draw: st.DrawFn, zone_id: str) -> FenceZone:
    """A star-shaped zone of any kind around Helsingborg, binding some or all types."""
    lng, lat = draw(st.floats(12.695, 12.715)), draw(st.floats(56.035, 56.055))
    degrees = sorted(draw(st.sets(st.integers(0, 359), min_size=3, max_size=8)))
    radii = draw(st.lists(st.floats(0.002, 0.012), min_size=len(degrees), max_size=len(degrees)))
    ring = [
        (round(lng + r * math.cos(a), 6), round(lat + r * math.sin(a) / 2, 6))
        for a, r in zip(map(math.radians, degrees), radii, strict=True)
    ]
    kind = draw(st.sampled_from([k for k in K if k is not K.DISTRICT]))
    return zone(
        zone_id,
        kind,
        Polygon(ring),
        vehicle_types=draw(MDS_TYPES),
        max_speed_kph=draw(st.none() | st.integers(0, 30)) if kind is K.SLOW else None,
        parking=draw(st.sampled_from(ParkingMode)) if kind is K.PARKING else None,
    )


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6).flatmap(lambda n: st.tuples(*(random_zone(f"z{i}") for i in range(n)))))
def test_a_reader_resolves_random_overlaps_as_fleetbed(zones: tuple[FenceZone, ...]) -> None:
    assume(all(z.geometry.is_valid for z in zones))
    data = build(zones)
    assert_sound_geometry(data)
    assert_resolves_as_enforced(zones, data, T0, steps=30)


def test_touching_zones_have_no_overlap_feature() -> None:
    west = zone("w", K.NO_PARKING, box(12.700, 56.040, 12.705, 56.045), name="Väst")
    east = zone("e", K.SLOW, box(12.705, 56.041, 12.710, 56.044), name="Öst", max_speed_kph=8)
    assert names(build([west, east])) == ["Väst", "Öst"]


def test_output_does_not_depend_on_input_order() -> None:
    zones = city() + timed()[1:]
    want = json.dumps(build(zones))
    shuffled = list(zones)
    random.Random(7).shuffle(shuffled)
    type_ids = {mds: list(reversed(ids)) for mds, ids in reversed(TYPE_IDS.items())}
    assert json.dumps(build(shuffled, type_ids)) == want


# --- geometry and times --------------------------------------------------------------


def test_rounding_drops_degenerate_parts_and_keeps_geometry_valid() -> None:
    speck = box(12.7100001, 56.0400001, 12.7100003, 56.0400003)
    pinhole = box(12.7020001, 56.0420001, 12.7020003, 56.0420003)
    shell = Polygon(
        [(12.70000004, 56.04000004), (12.70500004, 56.04), (12.705, 56.045), (12.7, 56.045)],
        [pinhole.exterior.coords],
    )
    dust = zone("dust", K.NO_RIDE, box(12.7110001, 56.0400001, 12.7110002, 56.0400002))
    data = build([zone("sa", K.SERVICE_AREA, mp(shell, speck)), dust])
    assert_sound_geometry(data)
    (feature,) = features(data)
    ((ring,),) = feature["geometry"]["coordinates"]
    assert sorted(ring[:-1]) == [[12.7, 56.04], [12.7, 56.045], [12.705, 56.04], [12.705, 56.045]]


def test_start_and_end_are_rfc3339_to_the_second_in_their_own_offset() -> None:
    stockholm = datetime(2026, 12, 7, 11, 0, 30, 123456, tzinfo=ZoneInfo("Europe/Stockholm"))
    data = build([zone("z", K.SLOW, SQUARE, start=T0, end=stockholm)])
    (feature,) = features(data)
    assert feature["properties"]["start"] == "2026-12-07T10:00:00Z"
    assert feature["properties"]["end"] == "2026-12-07T11:00:30+01:00"


def test_overlap_features_are_in_force_only_while_their_zones_are() -> None:
    published = [
        (props["name"][0]["text"], props.get("start"), props.get("end"))
        for props in (f["properties"] for f in features(build(timed())))
    ]
    ten, eleven, noon = "2026-12-07T10:00:00Z", "2026-12-07T11:00:00Z", "2026-12-07T12:00:00Z"
    assert ("Julmarknad / Centrum", ten, noon) in published
    assert ("Julmarknad / Centrum", ten, eleven) in published
    assert ("Julmarknad / Vägarbete / Centrum", eleven, noon) in published
    assert ("Centrum", None, None) in published
    assert not [p for p in published if " / " in p[0] and p[1:] == (None, None)]


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        zone("z", K.SLOW, SQUARE, start=datetime(2026, 12, 7, 10, 0))


def test_global_rules_follow_the_service_areas_in_force_now() -> None:
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    later = zone("sa", K.SERVICE_AREA, SQUARE, name="Centrum", start=now + timedelta(days=1))
    assert geofencing_data([later], TYPE_IDS, ["sv"], now=now)["global_rules"] == [ALLOWED]
    assert geofencing_data([later], TYPE_IDS, ["sv"], now=now + timedelta(days=2))[
        "global_rules"
    ] == [FENCED]
