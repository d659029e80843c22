"""Liveness, readiness and metrics."""

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.deps import get_resources
from app.readiness import Check, check_all, zones_check

router = APIRouter(tags=["operations"])


@router.get("/healthz", operation_id="healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    """Answers as long as the process serves requests."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    operation_id="readyz",
    summary="PostgreSQL, PostGIS, Redis, migrations, zones and background tasks are in order",
    responses={
        503: {"description": "A dependency or background task is not ready; `failing` names it."}
    },
)
async def readyz(request: Request) -> JSONResponse:
    """200 when every dependency is ready, else 503 naming the failing ones."""
    checks = await check_all(get_resources(request))
    if request.app.state.live.stale:
        checks.append(Check("hotstate", False, "missed updates; rebuild pending"))
    zones = request.app.state.zones
    checks.append(zones_check(zones.loaded, zones.skipped))
    checks.extend(request.app.state.background.checks())
    failing = [c.name for c in checks if not c.ok]
    body: dict[str, Any] = {
        "status": "degraded" if failing else "ready",
        "failing": failing,
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
    }
    return JSONResponse(body, status_code=503 if failing else 200)


@router.get(
    "/metrics",
    operation_id="metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
async def metrics(request: Request) -> Response:
    """Request counts and latency histograms in the Prometheus text format."""
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
