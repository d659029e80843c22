"""Every ORM model, imported so that `metadata` is complete for Alembic."""

from app.core.db import Base
from fleet.events.models import VehicleEvent
from fleet.tenancy.models import ApiKey, Provider
from fleet.vehicles.models import Vehicle
from telemetry.models import TelemetryPoint

metadata = Base.metadata

__all__ = ["ApiKey", "Provider", "TelemetryPoint", "Vehicle", "VehicleEvent", "metadata"]
