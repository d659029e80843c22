"""Recording and reading who pulled what."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from fleet.reporting.models import AuditEntry


async def record_pull(
    session: AsyncSession, *, principal: Principal, action: str, params: dict[str, Any], rows: int
) -> None:
    """Append one entry in the caller's transaction."""
    await session.execute(
        insert(AuditEntry).values(
            key_id=principal.key_id,
            role=principal.role.value,
            action=action,
            params=params,
            rows=rows,
        )
    )


async def read_log(
    session: AsyncSession, *, limit: int, before: int | None
) -> Sequence[AuditEntry]:
    """Newest entries first; `before` pages by entry id."""
    query = select(AuditEntry)
    if before is not None:
        query = query.where(AuditEntry.entry_id < before)
    return (
        (await session.execute(query.order_by(AuditEntry.entry_id.desc()).limit(limit)))
        .scalars()
        .all()
    )
