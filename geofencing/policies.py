"""Publishing and reading MDS policies; published policies are immutable."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.mstime import from_ms, to_ms
from geofencing.models import PolicyRecord, Zone
from geofencing.policy import Policy, parse_policy, policy_to_mds


async def _check_geographies(session: AsyncSession, *, policy: Policy) -> None:
    wanted = {uuid.UUID(str(g)) for rule in policy.rules for g in rule.geographies}
    found = set(
        (
            await session.execute(
                select(Zone.zone_id).where(Zone.zone_id.in_(wanted), Zone.provider_id.is_(None))
            )
        ).scalars()
    )
    missing = sorted(str(g) for g in wanted - found)
    if missing:
        raise InvalidInput(
            f"rules name geographies that are not published: {', '.join(missing)}",
            fields=("rules.geographies",),
        )


async def publish_policy(
    session: AsyncSession, *, document: dict[str, Any], created_by: str, now: datetime
) -> Policy:
    """Validate and store a policy; `published_date` is now, `policy_id` made if absent."""
    policy = parse_policy(
        {"policy_id": str(uuid.uuid4()), **document, "published_date": to_ms(now)}
    )
    await _check_geographies(session, policy=policy)
    session.add(
        PolicyRecord(
            policy_id=uuid.UUID(str(policy.policy_id)),
            record=policy_to_mds(policy),
            start_at=from_ms(policy.start_date),
            end_at=from_ms(policy.end_date) if policy.end_date is not None else None,
            published_at=now,
            prev_policy_ids=[uuid.UUID(str(p)) for p in policy.prev_policies or []] or None,
            created_by=created_by,
        )
    )
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"policy {policy.policy_id} exists already; publish a new one") from exc
    return policy


async def get_policy(session: AsyncSession, *, policy_id: uuid.UUID) -> dict[str, Any]:
    """One published policy as MDS JSON."""
    record = await session.get(PolicyRecord, policy_id)
    if record is None:
        raise NotFound(f"policy {policy_id} not found")
    return record.record


async def list_policies(
    session: AsyncSession, *, start_ms: int, end_ms: int | None, active_only: bool
) -> Sequence[dict[str, Any]]:
    """Policies whose effective period overlaps [start, end] (end None: open-ended).

    With `active_only`, policies that a later one replaced (named in its
    `prev_policies`) are left out.
    """
    query = select(PolicyRecord).where(
        or_(PolicyRecord.end_at.is_(None), PolicyRecord.end_at >= from_ms(start_ms))
    )
    if end_ms is not None:
        query = query.where(PolicyRecord.start_at <= from_ms(end_ms))
    rows = (await session.execute(query.order_by(PolicyRecord.start_at))).scalars().all()
    if active_only:
        replaced = {p for r in rows for p in r.prev_policy_ids or []}
        rows = [r for r in rows if r.policy_id not in replaced]
    return [r.record for r in rows]


async def last_published_ms(session: AsyncSession) -> int | None:
    """When the newest policy was published."""
    newest = (
        await session.execute(
            select(PolicyRecord.published_at).order_by(PolicyRecord.published_at.desc()).limit(1)
        )
    ).scalar()
    return to_ms(newest) if newest is not None else None
