"""What the task rules on ingest read per batch, kept per process: a provider's rules and
its active vehicle tasks by (vehicle, kind).

Looking up the active tasks of every vehicle of every batch cost more than the rules
themselves (an index descent per vehicle and kind, 2.6 ms for 500 vehicles). Each process
instead keeps the active tasks of the providers it ingests for and, once per batch, reads
the rules and what changed since its cursor (the gap-free order of the `?since=` poll):
one short query that usually returns one row.

A change is read once its transaction has ended, so a task that another batch has just
opened may be unknown for a moment: opening it again is dropped by the unique index, and
closing it waits for the vehicle's next batch.
"""

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.tasks.cursor import ChangeCursor
from fleet.tasks.rules import TaskRules
from fleet.tasks.service import rules_from
from fleet.tasks.states import ACTIVE

# (device_id as text, kind) → task_id of the active task.
ActiveByVehicle = dict[tuple[str, str], uuid.UUID]

_ACTIVE_STATES = frozenset(s.value for s in ACTIVE)

# Everything active now, and the oldest transaction still running: changes from it on
# are read again by the next delta (a change seen twice is applied twice, harmlessly).
_LOAD = text(
    """
    SELECT task_id, device_id, kind, pg_snapshot_xmin(pg_current_snapshot()) AS horizon
    FROM (SELECT 1) AS one
    LEFT JOIN tasks t ON t.provider_id = :provider_id AND t.device_id IS NOT NULL
        AND t.state IN ('open', 'assigned', 'in_progress')
    """
)
_RULES = text("SELECT rules FROM task_rules WHERE provider_id = :provider_id")

# The rules, the changes after the cursor of transactions that have ended, and those of
# the reader's own transaction (not passed by the cursor: it has not ended).
_DELTA = text(
    """
    SELECT r.rules, d.task_id, d.device_id, d.kind, d.state, d.change_tx, d.change_seq, d.own
    FROM (SELECT 1) AS one
    LEFT JOIN task_rules r ON r.provider_id = :provider_id
    LEFT JOIN LATERAL (
        (SELECT t.task_id, t.device_id, t.kind, t.state, t.change_tx, t.change_seq,
                false AS own
         FROM tasks t
         WHERE t.provider_id = :provider_id
           AND (t.change_tx, t.change_seq) > (CAST(:tx AS xid8), CAST(:seq AS bigint))
           AND t.change_tx < pg_snapshot_xmin(pg_current_snapshot())
         ORDER BY t.change_tx, t.change_seq
         LIMIT :page)
        UNION ALL
        SELECT t.task_id, t.device_id, t.kind, t.state, t.change_tx, t.change_seq, true
        FROM tasks t
        WHERE t.provider_id = :provider_id AND t.change_tx = pg_current_xact_id_if_assigned()
    ) d ON true
    """
)


@dataclass
class _Known:
    cursor: ChangeCursor
    active: ActiveByVehicle = field(default_factory=dict)


class ActiveTasks:
    """The rules and active vehicle tasks of each provider, brought up to date per call."""

    def __init__(self, page: int = 1000) -> None:
        self.page = page
        self._known: dict[uuid.UUID, _Known] = {}
        # Deltas of one provider are applied one at a time and in the order they were
        # read, so an older view of a task never replaces a newer one.
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}

    async def current(
        self, session: AsyncSession, *, provider_id: uuid.UUID
    ) -> tuple[TaskRules, Mapping[tuple[str, str], uuid.UUID]]:
        """The provider's rules and its active tasks by (vehicle, kind), as of now."""
        async with self._locks.setdefault(provider_id, asyncio.Lock()):
            known = self._known.get(provider_id)
            if known is None:
                known = await self._load(session, provider_id=provider_id)
                self._known[provider_id] = known
                stored = await session.scalar(_RULES, {"provider_id": provider_id})
                return rules_from(stored), known.active
            rules = await self._catch_up(session, provider_id=provider_id, known=known)
            return rules, known.active

    async def _load(self, session: AsyncSession, *, provider_id: uuid.UUID) -> _Known:
        rows = (await session.execute(_LOAD, {"provider_id": provider_id})).all()
        known = _Known(ChangeCursor(rows[0].horizon, 0))
        for row in rows:
            if row.task_id is not None:
                known.active[(str(row.device_id), row.kind)] = row.task_id
        return known

    async def _catch_up(
        self, session: AsyncSession, *, provider_id: uuid.UUID, known: _Known
    ) -> TaskRules:
        while True:
            params = {
                "provider_id": provider_id,
                "tx": known.cursor.tx,
                "seq": known.cursor.seq,
                "page": self.page,
            }
            rows = (await session.execute(_DELTA, params)).all()
            for row in rows:
                if row.task_id is not None:
                    _apply(known.active, row)
            ended = [row for row in rows if row.task_id is not None and not row.own]
            if ended:
                known.cursor = ChangeCursor(ended[-1].change_tx, ended[-1].change_seq)
            if len(ended) < self.page:
                return rules_from(rows[0].rules)


def _apply(active: ActiveByVehicle, row: Any) -> None:
    """One task as it is now: listed while active, gone otherwise."""
    if row.device_id is None:
        return
    key = (str(row.device_id), row.kind)
    if row.state in _ACTIVE_STATES:
        active[key] = row.task_id
    elif active.get(key) == row.task_id:
        del active[key]
