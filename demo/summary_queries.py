"""The counts behind the live summary of `fleetbed demo run`: small read-only queries.

Read from PostgreSQL rather than through the API: the MDS Provider feeds audit every
pull, and a summary redrawn every 2 s would fill the audit log.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from demo.summary import NO_EVENT, FleetSummary, OperatorRebalancing

# A vehicle's state is that of its last event (as the live state and MDS status have it);
# one index lookup per vehicle through (device_id, occurred_at DESC).
_BY_STATE = text(
    """
    SELECT coalesce(e.vehicle_state, :no_event) AS state, count(*) AS n
    FROM vehicles v
    LEFT JOIN LATERAL (
        SELECT vehicle_state FROM events
        WHERE provider_id = v.provider_id AND device_id = v.device_id
        ORDER BY occurred_at DESC, seq DESC LIMIT 1
    ) e ON true
    WHERE CAST(:providers AS uuid[]) IS NULL OR v.provider_id = ANY(:providers)
    GROUP BY 1
    """
)
_TRIPS = text(
    """
    SELECT count(*) FILTER (WHERE status = 'open') AS open,
           count(*) FILTER (WHERE status = 'closed' AND updated_at >= :since) AS ended
    FROM trips
    WHERE status IN ('open', 'closed')
      AND (CAST(:providers AS uuid[]) IS NULL OR provider_id = ANY(:providers))
    """
)
# By arrival (created_at), not occurred_at: a simulator running faster than real time
# stamps its data on its own clock.
_ALERTS = text(
    """
    SELECT kind, count(*) FILTER (WHERE created_at >= :recent) AS recent, count(*) AS total
    FROM alerts
    WHERE created_at >= :since
      AND (CAST(:providers AS uuid[]) IS NULL OR provider_id = ANY(:providers))
    GROUP BY kind
    """
)

# Each provider's newest plan with a result (ready or dispatched) and the vehicles its
# van picked up (done pick-up tasks), by it and by the plans made since the demo started.
_REBALANCING = text(
    """
    SELECT p.name, last.created_at,
           (last.result -> 'before' ->> 'cells_in_deficit')::int AS before,
           (last.result -> 'after' ->> 'cells_in_deficit')::int AS after,
           (SELECT count(*) FROM tasks t
            WHERE t.plan_id = last.plan_id AND t.kind = 'rebalance_pickup'
              AND t.state = 'done') AS moved,
           (SELECT count(*) FROM rebalancing_plans q JOIN tasks t ON t.plan_id = q.plan_id
            WHERE q.provider_id = last.provider_id AND q.created_at >= :since
              AND t.kind = 'rebalance_pickup' AND t.state = 'done') AS moved_since
    FROM (
        SELECT DISTINCT ON (provider_id) provider_id, plan_id, created_at, result
        FROM rebalancing_plans
        WHERE result IS NOT NULL
          AND (CAST(:providers AS uuid[]) IS NULL OR provider_id = ANY(:providers))
        ORDER BY provider_id, created_at DESC
    ) last
    JOIN providers p ON p.provider_id = last.provider_id
    ORDER BY p.name
    """
)


async def fleet_summary(
    session: AsyncSession,
    *,
    since: datetime,
    recent_since: datetime,
    provider_ids: Sequence[uuid.UUID] | None = None,
) -> FleetSummary:
    """Vehicles by state, trips and alerts by kind since `since`, and each provider's last
    rebalancing plan; None providers: all."""
    providers = list(provider_ids) if provider_ids is not None else None
    by_state = {
        r.state: r.n
        for r in await session.execute(_BY_STATE, {"no_event": NO_EVENT, "providers": providers})
    }
    trips = (await session.execute(_TRIPS, {"since": since, "providers": providers})).one()
    alerts = (
        await session.execute(
            _ALERTS,
            {"since": since, "recent": max(since, recent_since), "providers": providers},
        )
    ).all()
    plans = await session.execute(_REBALANCING, {"since": since, "providers": providers})
    return FleetSummary(
        by_state=by_state,
        trips_in_progress=trips.open,
        trips_ended=trips.ended,
        alerts_recent={r.kind: r.recent for r in alerts if r.recent},
        alerts_total={r.kind: r.total for r in alerts},
        rebalancing=tuple(
            OperatorRebalancing(r.name, r.created_at, r.before, r.after, r.moved, r.moved_since)
            for r in plans
        ),
    )
