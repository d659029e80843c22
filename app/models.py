"""Every ORM model, imported so that `metadata` is complete for Alembic."""

from app.core.db import Base
from fleet.tenancy.models import ApiKey, Provider
from fleet.vehicles.models import Vehicle

metadata = Base.metadata

__all__ = ["ApiKey", "Provider", "Vehicle", "metadata"]
