"""Stored tasks, their history, and each provider's task rules."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Double,
    FetchedValue,
    ForeignKey,
    Index,
    Integer,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import UserDefinedType

from app.core.db import Base

# The place of a task as a geography, as the GiST index and the `near` queries spell it.
PLACE_SQL = "(geography(st_setsrid(st_makepoint(lng, lat), 4326)))"


class Xid8(UserDefinedType[int]):
    """PostgreSQL's 64-bit transaction id (asyncpg reads and writes it as an int)."""

    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:
        """The type's name in DDL."""
        return "xid8"


# So that reflecting the schema (the migration check) knows the column's type.
ischema_names["xid8"] = Xid8


class Task(Base):
    """One piece of field work, bound to a vehicle or (drop-offs, deployments) a place."""

    __tablename__ = "tasks"
    # The trigger's change stamps come back in the same statement (RETURNING).
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        # At most one active task of a kind per vehicle, even for concurrent batches.
        Index(
            "uq_tasks_active_device_kind",
            "provider_id",
            "device_id",
            "kind",
            unique=True,
            postgresql_where=text("state IN ('open', 'assigned', 'in_progress')"),
        ),
        Index("ix_tasks_provider_change", "provider_id", "change_tx", "change_seq"),
        Index("ix_tasks_provider_state_due", "provider_id", "state", "due_at"),
        # `?near=` orders by distance through this index (KNN on geography).
        Index("ix_tasks_place", text(PLACE_SQL), postgresql_using="gist"),
        # A dispatched plan's tasks, stop by stop.
        Index(
            "ix_tasks_plan", "plan_id", "plan_stop", postgresql_where=text("plan_id IS NOT NULL")
        ),
    )

    task_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    provider_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    kind: Mapped[str] = mapped_column(String(32))
    device_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    lat: Mapped[float | None] = mapped_column(Double)
    lng: Mapped[float | None] = mapped_column(Double)
    priority: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16))
    assignee: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(2000))
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A task dispatched from a rebalancing plan: the plan, the stop's place in the van's
    # route (1 is first), and how many vehicles a drop-off leaves there.
    plan_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("rebalancing_plans.plan_id", ondelete="SET NULL")
    )
    plan_stop: Mapped[int | None] = mapped_column(Integer)
    quantity: Mapped[int | None] = mapped_column(Integer)
    # Set by the trigger `tasks_stamp_change` on every insert and update: the change's
    # transaction, then its number from `task_change_seq`; together the `?since=` cursor.
    change_seq: Mapped[int] = mapped_column(
        BigInteger, server_default=FetchedValue(), server_onupdate=FetchedValue()
    )
    change_tx: Mapped[int] = mapped_column(
        Xid8, server_default=FetchedValue(), server_onupdate=FetchedValue()
    )


class TaskChange(Base):
    """One change of a task: who, when, from which state to which, and what else changed."""

    __tablename__ = "task_changes"

    __table_args__ = (Index("ix_task_changes_task", "task_id", "change_id"),)

    change_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    task_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tasks.task_id", ondelete="CASCADE")
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB)


class TaskRuleRecord(Base):
    """A provider's task rules; a provider without a row gets the defaults."""

    __tablename__ = "task_rules"

    provider_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    rules: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
