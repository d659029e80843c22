"""GET /v1/compliance: a policy evaluated on the live fleet."""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request

from app.core.auth import Principal, Scope
from app.core.bounded import UtcDateTime
from app.deps import SessionDep, get_settings, require
from app.visibility import live_scope
from fleet.compliance import policy_compliance
from fleet.live.queries import providers_in

router = APIRouter(prefix="/v1", tags=["compliance"])

Reader = Annotated[Principal, Depends(require(Scope.FLEET_READ))]


@router.get(
    "/compliance",
    operation_id="v1_compliance",
    summary="Compliance of the live fleet with a policy",
)
async def compliance(
    request: Request,
    session: SessionDep,
    principal: Reader,
    policy_id: Annotated[uuid.UUID, Query()],
    provider_id: Annotated[uuid.UUID | None, Query()] = None,
    at: Annotated[
        UtcDateTime | None, Query(description="RFC 3339; rule windows at this time")
    ] = None,
) -> dict[str, Any]:
    """Per provider and rule: matched vehicles, bounds, violations (MDS order of operations:
    a vehicle matched by a rule is not evaluated by later rules). Operators see their own
    provider only."""
    when = at or datetime.now(UTC)
    scope = live_scope(principal, provider_id)
    result = await policy_compliance(
        session,
        request.app.state.live.hot,
        policy_id=policy_id,
        provider_ids=list(await providers_in(session, scope=scope)),
        at=when,
        tz=ZoneInfo(get_settings(request).city_timezone),
    )
    return result.to_dict()
