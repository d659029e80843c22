"""Exports for city auditors: checked up front, then read piece by piece in a session of
their own (fleet.reporting.service streams and audits them)."""

import uuid
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal, Role
from app.core.errors import Forbidden, NotFound, Unavailable
from fleet.exports.formats import GEOMETRIES, Piece, csv_pieces, geojson_pieces, parquet_pieces
from fleet.exports.request import (
    Dataset,
    ExportRequest,
    Format,
    Privacy,
    check_window,
    parse_time,
)
from fleet.exports.sources import Rendering, copy_csv, export_query, fetch_values
from fleet.tenancy.models import Provider

# Who may see data as stored: the city's auditors (and administrators).
RAW_ROLES = frozenset({Role.CITY_AUDITOR, Role.ADMIN})


class ExportsUnavailable(Unavailable):
    """Open exports cannot be made: no salt is configured for the pseudonyms."""


@dataclass(frozen=True)
class ExportOptions:
    """How exports are made (from the settings)."""

    k_anonymity: int
    salt: bytes | None
    max_span: timedelta
    copy_queue_chunks: int
    fetch_rows: int
    parquet_group_rows: int
    work_mem_mb: int


async def prepare_export(
    session: AsyncSession,
    *,
    principal: Principal,
    dataset: Dataset,
    start: str,
    end: str,
    provider_filter: uuid.UUID | None,
    provider_ids: Sequence[uuid.UUID] | None,
    format: Format,
    privacy: Privacy,
    options: ExportOptions,
) -> ExportRequest:
    """Check an export before any byte is sent: its window, the caller's right to the
    privacy level, and the providers it covers (`provider_ids` as the caller may see
    them: None for all, empty when the one asked for is not theirs)."""
    window = parse_time("from", start), parse_time("to", end)
    check_window(*window, options.max_span)
    if privacy is Privacy.RAW and principal.role not in RAW_ROLES:
        raise Forbidden("raw exports are for city auditors; ask for privacy=open")
    if privacy is Privacy.OPEN and options.salt is None:
        raise ExportsUnavailable(
            "open exports need a salt: set FLEETBED_EXPORTS__SALT (or FLEETBED_AUTH__JWT_SECRET)"
        )
    if provider_ids is not None and not provider_ids:
        raise NotFound(f"no provider {provider_filter}")
    if provider_filter is not None:
        found = await session.scalar(
            select(Provider.provider_id).where(Provider.provider_id == provider_filter)
        )
        if found is None:
            raise NotFound(f"no provider {provider_filter}")
    return ExportRequest(
        dataset=dataset,
        start=window[0],
        end=window[1],
        provider_ids=tuple(provider_ids) if provider_ids is not None else None,
        format=format,
        privacy=privacy,
        provider_filter=provider_filter,
    )


async def _driver(session: AsyncSession) -> asyncpg.Connection:
    connection = await (await session.connection()).get_raw_connection()
    return connection.driver_connection


async def export_pieces(
    session: AsyncSession, *, request: ExportRequest, options: ExportOptions
) -> AsyncGenerator[Piece, None]:
    """The export's pieces, read in `session` (a transaction of the export's own)."""
    # Counting OD pairs and sorting happen in the database: give them room in memory.
    # This also opens the transaction the cursors need, with one snapshot for the export.
    await session.execute(
        text("SELECT set_config('work_mem', :mem, true)"), {"mem": f"{options.work_mem_mb}MB"}
    )
    conn = await _driver(session)
    rendering = Rendering.CSV if request.format is Format.CSV else Rendering.VALUES
    query = export_query(request, rendering, salt=options.salt, k=options.k_anonymity)
    if rendering is Rendering.CSV:
        chunks = copy_csv(conn, query, queued_chunks=options.copy_queue_chunks)
        async with aclosing(chunks), aclosing(csv_pieces(chunks)) as pieces:
            async for piece in pieces:
                yield piece
        return
    batches = fetch_values(conn, query, rows=options.fetch_rows)
    if request.format is Format.GEOJSON:
        written = geojson_pieces(batches, query.columns, GEOMETRIES[request.dataset])
    else:
        written = parquet_pieces(batches, query.columns, group_rows=options.parquet_group_rows)
    async with aclosing(batches), aclosing(written) as pieces:
        async for piece in pieces:
            yield piece
