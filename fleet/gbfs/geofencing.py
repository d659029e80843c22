"""The `data` of GBFS 3.0 `geofencing_zones.json` from an operator's zones in force (pure).

fleetbed applies every zone covering a point; GBFS applies only the earliest feature that has
a rule for the vehicle type. So each area covered by two or more zones is published first as
a feature of its own carrying the combined rules, then every zone whole.
"""

import itertools
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeAlias

import shapely
from shapely.geometry import MultiPolygon
from shapely.geometry.polygon import orient

from geofencing.rules import ParkingMode, ZoneKind

# Coordinates are published to 6 decimals (about 0.1 m). All geometry is computed on that
# grid, so what is published is what was computed, and is valid.
_GRID = 1e-6
_DECIMALS = 6

# Most restrictive first, so the feed reads in a stable, sensible order.
_KIND_ORDER = (
    ZoneKind.NO_RIDE,
    ZoneKind.RESTRICTED,
    ZoneKind.NO_PARKING,
    ZoneKind.SLOW,
    ZoneKind.PARKING,
    ZoneKind.SERVICE_AREA,
)
_NO_RIDING = frozenset({ZoneKind.NO_RIDE, ZoneKind.RESTRICTED})
_NO_ENDING = _NO_RIDING | {ZoneKind.NO_PARKING}

# A GBFS vehicle type, or None standing for every type when the system lists none.
_Type: TypeAlias = str | None


@dataclass(frozen=True)
class FenceZone:
    """A zone in force for the feed's operator, as the feed needs it."""

    zone_id: str
    name: str
    kind: ZoneKind
    geometry: MultiPolygon
    vehicle_types: frozenset[str] | None = None
    max_speed_kph: int | None = None
    parking: ParkingMode | None = None
    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        for when in (self.start, self.end):
            if when is not None and when.utcoffset() is None:
                raise ValueError(f"zone {self.zone_id}: {when!r} has no time zone")


@dataclass(frozen=True)
class _Rule:
    """What a vehicle type may do somewhere."""

    start: bool
    end: bool
    through: bool
    speed: int | None = None
    station: bool = False

    def as_json(self, type_ids: list[str] | None) -> dict[str, Any]:
        """The GBFS Rule object, for `type_ids` (None: every type)."""
        rule: dict[str, Any] = {} if type_ids is None else {"vehicle_type_ids": type_ids}
        rule |= {
            "ride_start_allowed": self.start,
            "ride_end_allowed": self.end,
            "ride_through_allowed": self.through,
        }
        if self.speed is not None:
            rule["maximum_speed_kph"] = self.speed
        if self.station:
            rule["station_parking"] = True
        return rule


@dataclass(frozen=True)
class _Types:
    """The system's GBFS vehicle types: the MDS types each is, and which must park at hubs."""

    mds: Mapping[_Type, frozenset[str]]
    hub_bound: frozenset[_Type]
    # Where each type's service areas in force are (types without any have none): outside
    # them it may only pass through.
    service_areas: Mapping[_Type, Any]

    @property
    def fenced(self) -> frozenset[_Type]:
        """The types a service area in force binds."""
        return frozenset(self.service_areas)

    def binds(self, zone: FenceZone, gbfs_type: _Type) -> bool:
        """Whether `zone`'s rule binds vehicles of `gbfs_type`."""
        return _binds(zone, self.mds[gbfs_type])

    def rules(self, zones: Sequence[FenceZone], area: Any) -> list[dict[str, Any]]:
        """The Rule objects where all `zones` apply (over `area`), for each type one of
        them binds."""
        by_type = {}
        for gbfs_type in self.mds:
            binding = [z for z in zones if self.binds(z, gbfs_type)]
            if binding:
                rule = _combined(binding, gbfs_type in self.hub_bound)
                # A feature takes precedence over the global rules: where it reaches out of
                # the type's service areas it must keep what they forbid there.
                if self._leaves_service_areas(gbfs_type, binding, area):
                    rule = replace(rule, start=False, end=False)
                by_type[gbfs_type] = rule
        return self.grouped(by_type)

    def _leaves_service_areas(
        self, gbfs_type: _Type, zones: Sequence[FenceZone], area: Any
    ) -> bool:
        if gbfs_type not in self.fenced or any(z.kind is ZoneKind.SERVICE_AREA for z in zones):
            return False
        outside = shapely.difference(area, self.service_areas[gbfs_type], grid_size=_GRID)
        return bool(shapely.area(outside) > 0)

    def global_rules(self) -> list[dict[str, Any]]:
        """The Rule objects outside every zone."""
        by_type = {
            gbfs_type: _Rule(
                start=gbfs_type not in self.fenced,
                end=gbfs_type not in self.fenced,
                through=True,
                station=gbfs_type in self.hub_bound,
            )
            for gbfs_type in self.mds
        }
        return self.grouped(by_type)

    def grouped(self, by_type: Mapping[_Type, _Rule]) -> list[dict[str, Any]]:
        """One Rule object per distinct rule, without type ids when it covers every type."""
        groups: dict[_Rule, list[str]] = defaultdict(list)
        for gbfs_type, rule in by_type.items():
            # None (every type) only ever comes alone, and is published without ids.
            groups[rule] += [] if gbfs_type is None else [gbfs_type]
        if len(groups) == 1 and len(by_type) == len(self.mds):
            return [rule.as_json(None) for rule in groups]
        return [rule.as_json(type_ids) for rule, type_ids in groups.items()]


def geofencing_data(
    zones: Sequence[FenceZone],
    type_ids: Mapping[str, Sequence[str]],
    languages: Sequence[str],
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """{"geofencing_zones": FeatureCollection, "global_rules": [...]}; the global rules
    (which carry no times) follow the zones in force at `now` (all zones when None)."""
    types = _types([z for z in zones if now is None or _in_force(z, now, now)], type_ids)
    published = sorted(
        (
            z
            for z in map(_on_grid, zones)
            if z.kind is not ZoneKind.DISTRICT
            and not z.geometry.is_empty
            and any(types.binds(z, t) for t in types.mds)
        ),
        key=lambda z: (_KIND_ORDER.index(z.kind), z.name, z.zone_id),
    )
    features = [
        _feature(area, [z.name for z in active], types.rules(active, area), (start, end), languages)
        for together, area in _overlaps(published)
        for start, end, active in _periods(together)
    ]
    features += [
        _feature(z.geometry, [z.name], types.rules([z], z.geometry), (z.start, z.end), languages)
        for z in published
    ]
    return {
        "geofencing_zones": {"type": "FeatureCollection", "features": features},
        "global_rules": types.global_rules(),
    }


def _types(zones: Sequence[FenceZone], type_ids: Mapping[str, Sequence[str]]) -> _Types:
    mds: dict[str, set[str]] = defaultdict(set)
    for mds_type, gbfs_types in type_ids.items():
        for gbfs_type in gbfs_types:
            mds[gbfs_type].add(mds_type)
    # Without types of its own the system still has vehicles; zones binding all apply to them.
    ordered: dict[_Type, frozenset[str]] = (
        {t: frozenset(mds[t]) for t in sorted(mds)} if mds else {None: frozenset()}
    )
    hub_bound = frozenset(
        t
        for t, of_mds in ordered.items()
        if any(_mandatory_hub(z) and _binds(z, of_mds) for z in zones)
    )
    service_areas = {
        t: shapely.union_all(areas, grid_size=_GRID)
        for t, of_mds in ordered.items()
        if (
            areas := [
                shapely.set_precision(z.geometry, _GRID)
                for z in zones
                if z.kind is ZoneKind.SERVICE_AREA and _binds(z, of_mds)
            ]
        )
    }
    return _Types(ordered, hub_bound, service_areas)


def _binds(zone: FenceZone, mds_types: frozenset[str]) -> bool:
    """Whether `zone`'s rule binds a GBFS type that is any of `mds_types`."""
    return zone.vehicle_types is None or bool(zone.vehicle_types & mds_types)


def _mandatory_hub(zone: FenceZone) -> bool:
    return zone.kind is ZoneKind.PARKING and zone.parking is ParkingMode.MANDATORY


def _combined(zones: Sequence[FenceZone], hub_bound: bool) -> _Rule:
    """The rule fleetbed enforces where all `zones` (each binding the type) apply."""
    kinds = {z.kind for z in zones}
    limits = [z.max_speed_kph for z in zones if z.kind is ZoneKind.SLOW]
    return _Rule(
        start=not kinds & _NO_RIDING,
        end=not kinds & _NO_ENDING,
        through=not kinds & _NO_RIDING,
        speed=min((s for s in limits if s is not None), default=None),
        # A type bound to mandatory hubs parks only at stations, except inside such a hub.
        station=hub_bound and not any(_mandatory_hub(z) for z in zones),
    )


def _on_grid(zone: FenceZone) -> FenceZone:
    return replace(zone, geometry=shapely.set_precision(zone.geometry, _GRID))


def _overlaps(zones: Sequence[FenceZone]) -> list[tuple[list[FenceZone], Any]]:
    """Each set of two or more `zones` that overlap, with the area covered by exactly them."""
    if len(zones) < 2:
        return []
    geometries = [z.geometry for z in zones]
    # The faces of the arrangement of all the zones' boundaries: each face lies inside or
    # outside each zone as a whole, so one interior point tells which zones cover it.
    edges = shapely.union_all([g.boundary for g in geometries], grid_size=_GRID)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(edges)))
    tree = shapely.STRtree(geometries)
    cells: dict[tuple[int, ...], list[Any]] = defaultdict(list)
    for face in faces:
        covering = tree.query(face.point_on_surface(), predicate="within")
        if len(covering) >= 2:
            cells[tuple(sorted(covering.tolist()))].append(face)
    return [
        ([zones[i] for i in key], shapely.union_all(cells[key], grid_size=_GRID))
        for key in sorted(cells)
    ]


def _periods(
    zones: Sequence[FenceZone],
) -> Iterator[tuple[datetime | None, datetime | None, list[FenceZone]]]:
    """The periods in which two or more of `zones` are in force together, with those zones."""
    cuts = sorted({t.astimezone(UTC) for z in zones for t in (z.start, z.end) if t is not None})
    bounds: list[datetime | None] = [None, *cuts, None]
    for start, end in itertools.pairwise(bounds):
        active = [z for z in zones if _in_force(z, start, end)]
        if len(active) >= 2:
            yield start, end, active


def _in_force(zone: FenceZone, start: datetime | None, end: datetime | None) -> bool:
    """Whether `zone` is in force throughout the period from `start` to `end`."""
    after_start = zone.start is None or (start is not None and zone.start <= start)
    before_end = zone.end is None or (end is not None and end <= zone.end)
    return after_start and before_end


def _feature(
    geometry: Any,
    names: list[str],
    rules: list[dict[str, Any]],
    period: tuple[datetime | None, datetime | None],
    languages: Sequence[str],
) -> dict[str, Any]:
    name = " / ".join(names)
    properties: dict[str, Any] = {"name": [{"text": name, "language": lang} for lang in languages]}
    start, end = period
    if start is not None:
        properties["start"] = _rfc3339(start)
    if end is not None:
        properties["end"] = _rfc3339(end)
    properties["rules"] = rules
    return {"type": "Feature", "geometry": _multipolygon(geometry), "properties": properties}


def published_area(geometry: Any) -> dict[str, Any]:
    """A polygonal geometry as GBFS publishes areas: a GeoJSON MultiPolygon on the 6-decimal
    grid with RFC 7946 ring orientation."""
    return _multipolygon(shapely.set_precision(geometry, _GRID))


def _multipolygon(geometry: Any) -> dict[str, Any]:
    """GeoJSON MultiPolygon of a polygonal geometry on the grid, RFC 7946 ring orientation."""
    polygons = [orient(p) for p in shapely.get_parts(geometry)]
    return {
        "type": "MultiPolygon",
        "coordinates": [[_ring(p.exterior), *map(_ring, p.interiors)] for p in polygons],
    }


def _ring(ring: Any) -> list[list[float]]:
    return [[round(x, _DECIMALS), round(y, _DECIMALS)] for x, y in ring.coords]


def _rfc3339(when: datetime) -> str:
    """`when` in RFC 3339 to the second, `Z` for UTC, else its own offset."""
    text = when.isoformat(timespec="seconds")
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text
