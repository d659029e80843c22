"""Roles, scopes and the authenticated principal."""

import uuid
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What a credential is for."""

    ADMIN = "admin"
    CITY_AUDITOR = "city_auditor"
    OPERATOR_MANAGER = "operator_manager"
    FIELD_AGENT = "field_agent"
    GATEWAY = "gateway"
    CITY_PLANNER = "city_planner"
    # A booking service: books and follows rides and deliveries for one operator's pods.
    DISPATCHER = "dispatcher"


class Scope(StrEnum):
    """Fine-grained rights carried in tokens; routes require scopes, not roles."""

    ADMIN = "admin"
    AUDIT_READ = "audit:read"
    FLEET_READ = "fleet:read"
    VEHICLES_READ = "vehicles:read"
    VEHICLES_WRITE = "vehicles:write"
    TELEMETRY_WRITE = "telemetry:write"
    EVENTS_WRITE = "events:write"
    TASKS_WRITE = "tasks:write"
    # Create, assign, re-prioritise and cancel tasks, and set the task rules.
    TASKS_MANAGE = "tasks:manage"
    ZONES_WRITE = "zones:write"
    POLICIES_WRITE = "policies:write"
    COMMANDS_WRITE = "commands:write"
    COMMANDS_RECEIVE = "commands:receive"
    # Demand forecasts, targets per cell and plans: read them, and make and dispatch plans.
    REBALANCING_READ = "rebalancing:read"
    REBALANCING_PLAN = "rebalancing:plan"
    # Pods and their requests: read them, book and cancel, and record outcomes and settings.
    DISPATCH_READ = "dispatch:read"
    DISPATCH_BOOK = "dispatch:book"
    DISPATCH_MANAGE = "dispatch:manage"
    # The operator's public GBFS system: its texts, prices, deep links and ttls.
    GBFS_MANAGE = "gbfs:manage"


ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.ADMIN: frozenset(Scope),
    Role.CITY_AUDITOR: frozenset({Scope.AUDIT_READ, Scope.FLEET_READ, Scope.VEHICLES_READ}),
    Role.OPERATOR_MANAGER: frozenset(
        {
            Scope.FLEET_READ,
            Scope.VEHICLES_READ,
            Scope.VEHICLES_WRITE,
            Scope.TASKS_WRITE,
            Scope.TASKS_MANAGE,
            Scope.ZONES_WRITE,
            Scope.COMMANDS_WRITE,
            Scope.REBALANCING_READ,
            Scope.REBALANCING_PLAN,
            Scope.DISPATCH_READ,
            Scope.DISPATCH_BOOK,
            Scope.DISPATCH_MANAGE,
            Scope.GBFS_MANAGE,
        }
    ),
    Role.FIELD_AGENT: frozenset(
        {Scope.FLEET_READ, Scope.VEHICLES_READ, Scope.TASKS_WRITE, Scope.COMMANDS_WRITE}
    ),
    Role.GATEWAY: frozenset(
        {
            Scope.VEHICLES_READ,
            Scope.VEHICLES_WRITE,
            Scope.TELEMETRY_WRITE,
            Scope.EVENTS_WRITE,
            Scope.COMMANDS_RECEIVE,
        }
    ),
    Role.CITY_PLANNER: frozenset(
        {Scope.FLEET_READ, Scope.ZONES_WRITE, Scope.POLICIES_WRITE, Scope.REBALANCING_READ}
    ),
    Role.DISPATCHER: frozenset({Scope.DISPATCH_READ, Scope.DISPATCH_BOOK}),
}

# Roles that act for the whole city rather than for one operator.
CITYWIDE_ROLES = frozenset({Role.ADMIN, Role.CITY_AUDITOR, Role.CITY_PLANNER})


class Mode(StrEnum):
    """MDS modes; every provider operates exactly one."""

    MICROMOBILITY = "micromobility"
    PASSENGER_SERVICES = "passenger-services"
    DELIVERY_ROBOTS = "delivery-robots"
    CAR_SHARE = "car-share"


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved from an API key or a JWT on every request."""

    key_id: str
    role: Role
    scopes: frozenset[Scope]
    provider_id: uuid.UUID | None
    mode: Mode | None

    def has(self, scope: Scope) -> bool:
        """Whether this principal holds `scope`."""
        return scope in self.scopes

    def acting_for(self) -> tuple[uuid.UUID, Mode]:
        """The provider (and its mode) a provider-bound principal acts for."""
        if self.provider_id is None or self.mode is None:
            raise ValueError(f"key {self.key_id} is not bound to a provider")
        return self.provider_id, self.mode
