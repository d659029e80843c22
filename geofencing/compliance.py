"""Compliance of a fleet snapshot with an MDS 2.0 policy at one instant (pure).

Semantics, from `spec/policy/README.md` (MDS 2.0.2) where it speaks, and chosen where not:

- A policy is in force on `[start_date, end_date)`. A rule is active when its local `days`
  and `start_time`..`end_time` hold at `now` in the city's time zone. Times are wall-clock
  times compared at whole seconds, end included (the default end is 23:59:59, "to the end
  of the day"). A window whose end is before its start runs past midnight and belongs to
  the day it starts on. Wall-clock comparison makes DST behave like a local sign: a
  01:30-03:30 window lasts one hour on the night clocks go forward and three hours on the
  night they go back; a window inside the skipped hour does not happen that night.
- A vehicle fits a rule when its vehicle type, propulsion types (any in common), state
  and last event types (any in common with the state's list; an empty list means every
  event) and position (inside any of the rule's geographies) fit. Absent or empty
  `vehicle_types`, `propulsion_types`, `days` and an empty `states` mean "all".
- Order of operations (spec, "Order of Operations"): "If a vehicle is matched with a
  rule, then it _will not_ be considered in the subsequent evaluation of rules within a
  given policy." Rules are taken in list order; each active rule, of any type, takes
  every remaining vehicle that fits it; later rules see only the vehicles left. Rules not
  active at `now` take nothing.
- Counts are per provider: the spec's Value URL section says compliance of a global
  count "is not computable from the information available to a single Provider", so an
  ordinary count rule bounds each provider's fleet. Every provider is judged alone.
- Bounds: `minimum` (default 0) and `maximum` (default none), inclusive unless
  `inclusive_minimum` / `inclusive_maximum` are false. A count rule is in violation when
  its number of matched vehicles is out of bounds; the vehicles beyond the maximum are the
  violators, taken as those that entered their state last (`state_since_ms`, then
  `device_id`); a shortfall below the minimum blames no vehicle. A speed rule's violators
  are the matched vehicles whose speed (MDS m/s, converted exactly to kph or mph) is out of
  bounds; vehicles with no speed are listed as unmeasured. A time rule's violators are the
  matched vehicles whose time in their state, `now - state_since_ms`, is out of bounds
  (days are 24 hours). `user` rules, and rules whose rate applies `in_bounds` (fees for
  being within bounds, not limits), match vehicles but never violate.
"""

import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from app.core.mstime import from_ms
from geofencing.policy import Policy, Rule

MS_PER_TIME_UNIT: Mapping[str, int] = {
    "seconds": 1_000,
    "minutes": 60_000,
    "hours": 3_600_000,
    "days": 86_400_000,
}
# Metres per second in one rule unit, exactly (an international mile is 1609.344 m).
MPS_PER_SPEED_UNIT: Mapping[str, Fraction] = {
    "kph": Fraction(1000, 3600),
    "mph": Fraction(1_609_344, 3_600_000),
}
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order

GeographyLookup = Callable[[str, float, float], bool]
"""`in_geography(geography_id, lat, lng)`: whether the point lies in the geography."""
GeographyMembership = Mapping[tuple[str, str], Collection[str]]
"""Precomputed membership: (provider_id, device_id) -> ids of the geographies its position
lies in (device ids are unique per provider only)."""


@dataclass(frozen=True, slots=True)
class VehicleSnapshot:
    """What compliance needs to know of one vehicle at the instant of evaluation."""

    device_id: str
    provider_id: str
    vehicle_type: str
    propulsion_types: tuple[str, ...]
    state: str
    event_types: tuple[str, ...]  # of the vehicle's last event, which set `state`
    lat: float
    lng: float
    state_since_ms: int
    speed: float | None = None  # m/s, as MDS telemetry reports it


@dataclass(frozen=True)
class RuleCompliance:
    """How one rule stands for one provider's vehicles."""

    rule_id: str
    name: str
    rule_type: str
    rule_units: str | None
    active: bool
    minimum: int
    maximum: int | None
    inclusive_minimum: bool
    inclusive_maximum: bool
    matched_device_ids: tuple[str, ...]
    violating_device_ids: tuple[str, ...]
    excess: int = 0
    shortfall: int = 0
    unmeasured_device_ids: tuple[str, ...] = ()

    @property
    def total_matched(self) -> int:
        """How many vehicles the rule took."""
        return len(self.matched_device_ids)

    @property
    def in_violation(self) -> bool:
        """Whether the rule is broken: a violating vehicle, or too few vehicles."""
        return bool(self.violating_device_ids) or self.shortfall > 0

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "rule_id": self.rule_id,
            "name": self.name,
            "rule_type": self.rule_type,
            "rule_units": self.rule_units,
            "active": self.active,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "inclusive_minimum": self.inclusive_minimum,
            "inclusive_maximum": self.inclusive_maximum,
            "total_matched": self.total_matched,
            "matched_device_ids": list(self.matched_device_ids),
            "violating_device_ids": list(self.violating_device_ids),
            "excess": self.excess,
            "shortfall": self.shortfall,
            "unmeasured_device_ids": list(self.unmeasured_device_ids),
            "in_violation": self.in_violation,
        }


@dataclass(frozen=True)
class MatchedVehicle:
    """A vehicle some rule took: the rule applied, and every active rule it fits."""

    device_id: str
    rule_applied: str
    rules_matched: tuple[str, ...]
    violating: bool
    value: float | None = None  # speed or time in the applied rule's units

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "device_id": self.device_id,
            "rule_applied": self.rule_applied,
            "rules_matched": list(self.rules_matched),
            "violating": self.violating,
            "value": self.value,
        }


@dataclass(frozen=True)
class ProviderCompliance:
    """The policy applied to one provider's vehicles."""

    provider_id: str
    rules: tuple[RuleCompliance, ...]
    vehicles_found: tuple[MatchedVehicle, ...]
    unmatched_device_ids: tuple[str, ...]

    @property
    def excess_vehicles_count(self) -> int:
        """Vehicles beyond the maximum of count rules."""
        return sum(r.excess for r in self.rules)

    @property
    def total_violations(self) -> int:
        """Violating vehicles plus the vehicles missing below count minimums."""
        return sum(len(r.violating_device_ids) + r.shortfall for r in self.rules)

    @property
    def in_violation(self) -> bool:
        """Whether any rule is broken."""
        return any(r.in_violation for r in self.rules)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "provider_id": self.provider_id,
            "in_violation": self.in_violation,
            "total_violations": self.total_violations,
            "excess_vehicles_count": self.excess_vehicles_count,
            "rules": [r.to_dict() for r in self.rules],
            "vehicles_found": [v.to_dict() for v in self.vehicles_found],
            "unmatched_device_ids": list(self.unmatched_device_ids),
        }


@dataclass(frozen=True)
class PolicyCompliance:
    """The policy applied to a fleet snapshot at `compliance_as_of`, per provider."""

    policy_id: str
    policy_name: str
    compliance_as_of: int
    timezone: str
    policy_active: bool
    providers: tuple[ProviderCompliance, ...]
    out_of_scope_device_ids: tuple[str, ...] = field(default=())

    @property
    def in_violation(self) -> bool:
        """Whether any provider breaks any rule."""
        return any(p.in_violation for p in self.providers)

    @property
    def total_violations(self) -> int:
        """Sum of the providers' violations."""
        return sum(p.total_violations for p in self.providers)

    def provider(self, provider_id: str) -> ProviderCompliance:
        """The result for one provider; KeyError when it was not evaluated."""
        for result in self.providers:
            if result.provider_id == provider_id:
                return result
        raise KeyError(provider_id)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (integers in ms, like MDS)."""
        return {
            "policy_id": self.policy_id,
            "policy_name": self.policy_name,
            "compliance_as_of": self.compliance_as_of,
            "timezone": self.timezone,
            "policy_active": self.policy_active,
            "in_violation": self.in_violation,
            "total_violations": self.total_violations,
            "providers": [p.to_dict() for p in self.providers],
            "out_of_scope_device_ids": list(self.out_of_scope_device_ids),
        }


def policy_active_at(policy: Policy, now_ms: int) -> bool:
    """Whether the policy is in force at `now_ms`: `start_date <= now < end_date`."""
    return policy.start_date <= now_ms and (policy.end_date is None or now_ms < policy.end_date)


def _seconds_of_day(text: str) -> int:
    hours, minutes, seconds = (int(part) for part in text.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def rule_active_at(rule: Rule, now_ms: int, tz: ZoneInfo) -> bool:
    """Whether the rule's local days and hours hold at `now_ms` (see module notes)."""
    local = from_ms(now_ms).astimezone(tz)
    clock = local.hour * 3600 + local.minute * 60 + local.second
    days = set(rule.days) if rule.days else None
    today = _WEEKDAYS[local.weekday()]
    yesterday = _WEEKDAYS[(local.weekday() - 1) % 7]
    start = _seconds_of_day(rule.start_time or "00:00:00")
    end = _seconds_of_day(rule.end_time or "23:59:59")
    if start <= end:
        return start <= clock <= end and (days is None or today in days)
    if clock >= start:
        return days is None or today in days
    return clock <= end and (days is None or yesterday in days)


def _lower_bound(rule: Rule) -> tuple[int, bool]:
    return (rule.minimum if rule.minimum is not None else 0), rule.inclusive_minimum is not False


def _out_of_bounds(value: Fraction | int, rule: Rule) -> bool:
    low, low_inclusive = _lower_bound(rule)
    if value < low or (value == low and not low_inclusive):
        return True
    high = rule.maximum
    return high is not None and (
        value > high or (value == high and rule.inclusive_maximum is False)
    )


class _Matcher:
    """Whether a vehicle fits a rule; geography answers are asked once per pair."""

    def __init__(self, geographies: GeographyLookup | GeographyMembership) -> None:
        self._lookup: GeographyLookup | None = None
        self._membership: dict[tuple[str, str], frozenset[str]] = {}
        if callable(geographies):
            self._lookup = geographies
        else:
            self._membership = {k: frozenset(v) for k, v in geographies.items()}
        self._cache: dict[tuple[str, str, str], bool] = {}
        self._compiled: dict[
            str, tuple[frozenset[str], frozenset[str], dict[str, frozenset[str]]]
        ] = {}

    def _inside(self, geography_id: str, vehicle: VehicleSnapshot) -> bool:
        if self._lookup is None:
            vehicle_key = (vehicle.provider_id, vehicle.device_id)
            return geography_id in self._membership.get(vehicle_key, frozenset())
        key = (geography_id, vehicle.provider_id, vehicle.device_id)
        known = self._cache.get(key)
        if known is None:
            known = self._cache[key] = bool(self._lookup(geography_id, vehicle.lat, vehicle.lng))
        return known

    def fits(self, rule: Rule, vehicle: VehicleSnapshot) -> bool:
        types, propulsions, states = self._filters(rule)
        if types and vehicle.vehicle_type not in types:
            return False
        if propulsions and propulsions.isdisjoint(vehicle.propulsion_types):
            return False
        if states:
            events = states.get(vehicle.state)
            if events is None or (events and events.isdisjoint(vehicle.event_types)):
                return False
        return any(self._inside(g, vehicle) for g in rule.geographies)

    def _filters(
        self, rule: Rule
    ) -> tuple[frozenset[str], frozenset[str], dict[str, frozenset[str]]]:
        compiled = self._compiled.get(rule.rule_id)
        if compiled is None:
            compiled = self._compiled[rule.rule_id] = (
                frozenset(rule.vehicle_types or ()),
                frozenset(rule.propulsion_types or ()),
                {str(state): frozenset(events) for state, events in rule.states.items()},
            )
        return compiled


def _measure(rule: Rule, vehicle: VehicleSnapshot, now_ms: int) -> Fraction | None:
    """The vehicle's value in the rule's units: speed or time in state; None if unknown."""
    units = rule.rule_units or ""
    if rule.rule_type == "speed" and units in MPS_PER_SPEED_UNIT:
        if vehicle.speed is None or not math.isfinite(vehicle.speed):
            return None
        return Fraction(vehicle.speed) / MPS_PER_SPEED_UNIT[units]
    if rule.rule_type == "time" and units in MS_PER_TIME_UNIT:
        elapsed = max(0, now_ms - vehicle.state_since_ms)
        return Fraction(elapsed, MS_PER_TIME_UNIT[units])
    return None


def _limits(rule: Rule) -> bool:
    """Whether being out of bounds breaks the rule (user rules and in-bounds fees do not)."""
    return rule.rule_type != "user" and rule.rate_applies_when != "in_bounds"


def _judge(
    rule: Rule, matched: Sequence[VehicleSnapshot], now_ms: int
) -> tuple[RuleCompliance, dict[str, Fraction | None]]:
    """The rule's outcome on the vehicles it took, and their measured values."""
    low, low_inclusive = _lower_bound(rule)
    violating: list[str] = []
    unmeasured: list[str] = []
    values: dict[str, Fraction | None] = {}
    excess = shortfall = 0
    if rule.rule_type == "count":
        count = len(matched)
        if _limits(rule) and _out_of_bounds(count, rule):
            if rule.maximum is not None:
                allowed = max(
                    0, rule.maximum if rule.inclusive_maximum is not False else rule.maximum - 1
                )
                excess = max(0, count - allowed)
                violating = [v.device_id for v in matched[allowed:]]
            needed = low if low_inclusive else low + 1
            shortfall = max(0, needed - count)
    elif rule.rule_type in ("speed", "time"):
        for vehicle in matched:
            value = values[vehicle.device_id] = _measure(rule, vehicle, now_ms)
            if value is None:
                unmeasured.append(vehicle.device_id)
            elif _limits(rule) and _out_of_bounds(value, rule):
                violating.append(vehicle.device_id)
    result = _result(
        rule,
        active=True,
        matched_device_ids=tuple(v.device_id for v in matched),
        violating_device_ids=tuple(violating),
        excess=excess,
        shortfall=shortfall,
        unmeasured_device_ids=tuple(unmeasured),
    )
    return result, values


def _result(rule: Rule, *, active: bool, **outcome: Any) -> RuleCompliance:
    low, low_inclusive = _lower_bound(rule)
    return RuleCompliance(
        rule_id=rule.rule_id,
        name=rule.name,
        rule_type=rule.rule_type,
        rule_units=rule.rule_units,
        active=active,
        minimum=low,
        maximum=rule.maximum,
        inclusive_minimum=low_inclusive,
        inclusive_maximum=rule.inclusive_maximum is not False,
        **outcome,
    )


def _evaluate_provider(
    provider_id: str,
    policy: Policy,
    active: Sequence[bool],
    vehicles: Sequence[VehicleSnapshot],
    matcher: _Matcher,
    now_ms: int,
) -> ProviderCompliance:
    # Earliest in their state first, so a count's excess is the latest arrivals.
    remaining = sorted(vehicles, key=lambda v: (v.state_since_ms, v.device_id))
    fitting = {
        v.device_id: tuple(
            rule.rule_id
            for rule, on in zip(policy.rules, active, strict=True)
            if on and matcher.fits(rule, v)
        )
        for v in remaining
    }
    rules: list[RuleCompliance] = []
    found: list[MatchedVehicle] = []
    for rule, on in zip(policy.rules, active, strict=True):
        if not on:
            rules.append(
                _result(rule, active=False, matched_device_ids=(), violating_device_ids=())
            )
            continue
        matched = [v for v in remaining if rule.rule_id in fitting[v.device_id]]
        remaining = [v for v in remaining if rule.rule_id not in fitting[v.device_id]]
        result, values = _judge(rule, matched, now_ms)
        rules.append(result)
        violators = set(result.violating_device_ids)
        for vehicle in matched:
            value = values.get(vehicle.device_id)
            found.append(
                MatchedVehicle(
                    device_id=vehicle.device_id,
                    rule_applied=rule.rule_id,
                    rules_matched=fitting[vehicle.device_id],
                    violating=vehicle.device_id in violators,
                    value=None if value is None else float(value),
                )
            )
    return ProviderCompliance(
        provider_id=provider_id,
        rules=tuple(rules),
        vehicles_found=tuple(found),
        unmatched_device_ids=tuple(v.device_id for v in remaining),
    )


def evaluate_policy(
    policy: Policy,
    vehicles: Iterable[VehicleSnapshot],
    *,
    now_ms: int,
    tz: ZoneInfo | str,
    geographies: GeographyLookup | GeographyMembership,
    providers: Iterable[str] = (),
) -> PolicyCompliance:
    """Evaluate `policy` on a fleet snapshot at `now_ms` in the city's time zone `tz`.

    `geographies` answers whether a vehicle lies in a geography: a callable
    `(geography_id, lat, lng) -> bool` or a mapping (provider_id, device_id) -> geography ids.
    Vehicles of providers the policy does not cover are only listed as out of scope.
    Every provider with a vehicle is judged, and also those in `providers` (and the
    policy's own `provider_ids`) even with none, so that count minimums can fail.
    """
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    in_force = policy_active_at(policy, now_ms)
    active = [in_force and rule_active_at(rule, now_ms, zone) for rule in policy.rules]
    scope = frozenset(policy.provider_ids or ())
    fleets: dict[str, list[VehicleSnapshot]] = {p: [] for p in (*scope, *providers)}
    out_of_scope: list[str] = []
    seen: set[tuple[str, str]] = set()
    for vehicle in vehicles:
        if (vehicle.provider_id, vehicle.device_id) in seen:
            raise ValueError(f"device {vehicle.device_id} appears twice in the snapshot")
        seen.add((vehicle.provider_id, vehicle.device_id))
        if scope and vehicle.provider_id not in scope:
            out_of_scope.append(vehicle.device_id)
        else:
            fleets.setdefault(vehicle.provider_id, []).append(vehicle)
    matcher = _Matcher(geographies)
    results = tuple(
        _evaluate_provider(provider_id, policy, active, fleets[provider_id], matcher, now_ms)
        for provider_id in sorted(fleets)
        if not scope or provider_id in scope
    )
    return PolicyCompliance(
        policy_id=policy.policy_id,
        policy_name=policy.name,
        compliance_as_of=now_ms,
        timezone=zone.key,
        policy_active=in_force,
        providers=results,
        out_of_scope_device_ids=tuple(sorted(out_of_scope)),
    )
