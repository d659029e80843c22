"""Every ORM model, imported so that `metadata` is complete for Alembic."""

from app.core.db import Base
from fleet.alerts.models import AlertRecord
from fleet.commands.models import Command, CommandChange
from fleet.dispatch.models import (
    DispatchRequest,
    DispatchRequestChange,
    DispatchSettingsRecord,
    PodSchedule,
)
from fleet.events.models import VehicleEvent
from fleet.gbfs.models import GbfsSystem
from fleet.rebalancing.models import RebalancingPlan
from fleet.reporting.models import AuditEntry
from fleet.tasks.models import Task, TaskChange, TaskRuleRecord
from fleet.tenancy.models import ApiKey, Provider
from fleet.trips.models import Trip
from fleet.vehicles.models import Vehicle
from geofencing.models import PolicyRecord, Zone, ZoneCell
from telemetry.models import TelemetryPoint

metadata = Base.metadata

__all__ = [
    "AlertRecord",
    "ApiKey",
    "AuditEntry",
    "Command",
    "CommandChange",
    "DispatchRequest",
    "DispatchRequestChange",
    "DispatchSettingsRecord",
    "GbfsSystem",
    "PodSchedule",
    "PolicyRecord",
    "Provider",
    "RebalancingPlan",
    "Task",
    "TaskChange",
    "TaskRuleRecord",
    "TelemetryPoint",
    "Trip",
    "Vehicle",
    "VehicleEvent",
    "Zone",
    "ZoneCell",
    "metadata",
]
