"""MDS Metrics 2.0 (for the city): discovery and queries, k-anonymised, every query audited."""

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from app.core.auth import Principal, Scope
from app.deps import SessionDep, get_settings, require
from app.mds_media import MdsResponse, mds_body, mds_version
from app.visibility import providers_for
from fleet.reporting.audit import record_pull
from fleet.reporting.metrics_catalog import QueryBody, discovery, parse_query, visible
from fleet.reporting.metrics_queries import compute_metrics

router = APIRouter(
    prefix="/mds",
    tags=["mds-metrics"],
    dependencies=[Depends(mds_version)],
    default_response_class=MdsResponse,
)

Reader = Annotated[Principal, Depends(require(Scope.FLEET_READ))]


@router.get(
    "/metrics",
    operation_id="mds_metrics_discovery",
    summary="Supported measures, intervals, dimensions and filters",
)
async def metrics_discovery(request: Request, principal: Reader) -> MdsResponse:
    """What can be asked of `POST /mds/metrics`."""
    settings = get_settings(request).metrics
    return MdsResponse(mds_body(**discovery(settings.max_intervals)))


@router.post(
    "/metrics",
    operation_id="mds_metrics_query",
    summary="Query metrics per interval and dimension values",
)
async def metrics_query(
    request: Request, session: SessionDep, principal: Reader, body: QueryBody
) -> MdsResponse:
    """Counts below the k-value (and averages over them) are -1. Operators see their own
    provider only; city roles see all."""
    settings = get_settings(request).metrics
    query = parse_query(body, max_intervals=settings.max_intervals)
    table = await compute_metrics(
        session,
        query=query,
        provider_ids=visible(providers_for(principal, None), query.provider_ids),
        k=settings.k_anonymity,
        max_rows=settings.max_rows,
        now=datetime.now(UTC),
    )
    described = query.described(settings.k_anonymity)
    await record_pull(
        session,
        principal=principal,
        action="mds_metrics.query",
        params=described,
        rows=len(table.rows),
    )
    return MdsResponse(
        mds_body(id=str(uuid.uuid4()), query=described, columns=table.columns, rows=table.rows)
    )
