"""MDS Metrics 2.0 (for the city): discovery and queries, k-anonymised, every query audited."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from app.auditor_reads import ReadsDep
from app.core.auth import Principal, Scope
from app.deps import get_settings, require
from app.mds_media import MdsResponse, mds_body, mds_version
from fleet.reporting.metrics_catalog import QueryBody, discovery

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
async def metrics_query(reads: ReadsDep, body: QueryBody) -> MdsResponse:
    """Counts below the k-value (and averages over them) are -1. Operators see their own
    provider only; city roles see all."""
    found = await reads.metrics(body)
    table = found.table
    return MdsResponse(
        mds_body(id=str(uuid.uuid4()), query=found.query, columns=table.columns, rows=table.rows)
    )
