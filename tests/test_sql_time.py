"""The SQL forms of MDS time agree with app.core.mstime, in PostgreSQL itself."""

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.mstime import from_ms, sql_from_ms, sql_ms

# 2018-01-01, a value with odd milliseconds, 2038's 32-bit edge and after, year 2199.
MS = [1_514_764_800_000, 1_764_763_200_123, 2_147_483_647_999, 2_147_483_648_001, 7_258_118_399_999]


@pytest.mark.parametrize("ms", MS)
async def test_milliseconds_round_trip_through_postgresql(session: AsyncSession, ms: int) -> None:
    at_ms = sql_from_ms("CAST(:ms AS bigint)")
    query = text(f"SELECT {at_ms}, {sql_ms(at_ms)}")
    at, back = (await session.execute(query, {"ms": ms})).one()
    assert (at, back) == (from_ms(ms), ms)
