"""Pulling exports in tests: the window they default to, CSV records, RFC 3339 times."""

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient, Response

from tests.conftest import Tenant

EXPORTS = "/v1/exports"


T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def utc(when: datetime) -> str:
    """The RFC 3339 form the exports write."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


async def pull(
    client: AsyncClient,
    who: Tenant,
    dataset: str = "trips",
    *,
    start: datetime | str | None = T0,
    end: datetime | str | None = T0 + timedelta(hours=1),
    **params: Any,
) -> Response:
    """GET an export; times as datetimes are sent in RFC 3339."""
    query = {k: str(v) for k, v in params.items()}
    for name, value in (("from", start), ("to", end)):
        if value is not None:
            query[name] = value.isoformat() if isinstance(value, datetime) else value
    return await client.get(f"{EXPORTS}/{dataset}", headers=who.headers, params=query)


def csv_rows(response: Response) -> list[dict[str, str]]:
    """The records of a CSV export, after checking its status and media type."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(response.text)))
