"""Alerts raised by the zone rules: GET /v1/alerts."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from app.core.auth import Principal, Scope
from app.core.bounded import UtcDateTime
from app.deps import SessionDep, require
from app.visibility import providers_for
from fleet.alerts.store import list_alerts

router = APIRouter(prefix="/v1", tags=["alerts"])

Reader = Annotated[Principal, Depends(require(Scope.FLEET_READ))]
AlertKind = Literal[
    "zone_enter",
    "zone_exit",
    "left_service_area",
    "speeding",
    "riding_in_no_ride_zone",
    "restricted_vehicle_in_zone",
    "parked_in_no_parking_zone",
    "parked_outside_mandatory_hub",
]


class AlertRead(BaseModel):
    """One alert."""

    alert_id: uuid.UUID
    provider_id: uuid.UUID
    device_id: uuid.UUID
    kind: str
    zone_id: uuid.UUID | None
    occurred_at: datetime
    lat: float
    lng: float
    details: dict[str, Any]


@router.get(
    "/alerts",
    operation_id="v1_list_alerts",
    summary="Alerts, newest first",
    response_model=list[AlertRead],
)
async def alerts(
    session: SessionDep,
    principal: Reader,
    since: Annotated[UtcDateTime | None, Query(description="RFC 3339, with offset")] = None,
    kind: Annotated[AlertKind | None, Query()] = None,
    device_id: Annotated[uuid.UUID | None, Query()] = None,
    provider_id: Annotated[uuid.UUID | None, Query(description="City-wide roles only")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AlertRead]:
    """Operators see their own fleet's alerts; city-wide roles every provider's."""
    found = await list_alerts(
        session,
        provider_ids=providers_for(principal, provider_id),
        since=since,
        kind=kind,
        device_id=device_id,
        limit=limit,
    )
    return [AlertRead.model_validate(a, from_attributes=True) for a in found]
