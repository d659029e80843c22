"""Storing and reading alerts."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.mstime import from_ms
from fleet.alerts.models import AlertRecord
from geofencing.violations import Alert


async def store_alerts(
    session: AsyncSession, *, provider_id: uuid.UUID, alerts: Sequence[Alert]
) -> list[AlertRecord]:
    """Insert alerts in the caller's transaction; returns the rows (with their ids)."""
    rows = [
        AlertRecord(
            alert_id=uuid.uuid4(),
            provider_id=provider_id,
            device_id=uuid.UUID(a.device_id),
            kind=a.kind,
            zone_id=uuid.UUID(a.zone_id) if a.zone_id else None,
            occurred_at=from_ms(a.ts_ms),
            lat=a.lat,
            lng=a.lng,
            details=a.details,
        )
        for a in alerts
    ]
    if rows:
        await session.execute(
            insert(AlertRecord),
            [
                {
                    c.key: getattr(r, c.key)
                    for c in AlertRecord.__table__.columns
                    if c.key != "created_at"
                }
                for r in rows
            ],
        )
    return rows


def stream_entry(row: AlertRecord) -> dict[str, str]:
    """An alert as flat strings for the Redis stream."""
    return {
        "alert_id": str(row.alert_id),
        "provider_id": str(row.provider_id),
        "device_id": str(row.device_id),
        "kind": row.kind,
        "zone_id": str(row.zone_id) if row.zone_id else "",
        "occurred_at": row.occurred_at.isoformat(),
        "lat": repr(row.lat),
        "lng": repr(row.lng),
    }


async def list_alerts(
    session: AsyncSession,
    *,
    provider_ids: Sequence[uuid.UUID] | None,
    since: datetime | None,
    kind: str | None,
    device_id: uuid.UUID | None,
    limit: int,
) -> Sequence[AlertRecord]:
    """Newest alerts first, filtered; `provider_ids` None means every provider."""
    query = select(AlertRecord)
    if provider_ids is not None:
        query = query.where(AlertRecord.provider_id.in_(provider_ids))
    if since is not None:
        query = query.where(AlertRecord.occurred_at >= since)
    if kind is not None:
        query = query.where(AlertRecord.kind == kind)
    if device_id is not None:
        query = query.where(AlertRecord.device_id == device_id)
    order = (AlertRecord.occurred_at.desc(), AlertRecord.alert_id)
    return (await session.execute(query.order_by(*order).limit(limit))).scalars().all()
