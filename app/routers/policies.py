"""MDS Policy 2.0 (public reads) and publishing policies (/v1/policies, city planners)."""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request

from app.core.auth import Principal, Scope
from app.core.bounded import HorizonMs
from app.core.mds import UUID_PATTERN
from app.core.mstime import now_ms
from app.deps import SessionDep, get_resources, require
from app.mds_media import MdsResponse, mds_body, mds_version
from geofencing import policies
from geofencing.policy import policy_to_mds

router = APIRouter(tags=["policies"])
mds = APIRouter(
    prefix="/mds",
    tags=["mds-policy"],
    dependencies=[Depends(mds_version)],
    default_response_class=MdsResponse,
)

Planner = Annotated[Principal, Depends(require(Scope.POLICIES_WRITE))]
Timestamp = Annotated[HorizonMs | None, Query(description="Milliseconds.")]


@router.post(
    "/v1/policies",
    operation_id="v1_publish_policy",
    summary="Publish an MDS policy",
    status_code=201,
)
async def publish_policy(
    request: Request,
    principal: Planner,
    document: Annotated[dict[str, Any], Body(description="An MDS 2.0 Policy.")],
) -> dict[str, Any]:
    """`published_date` is set now and `policy_id` made when absent; start_date must lie
    at least 20 minutes ahead, as MDS requires. Published policies never change."""
    async with get_resources(request).sessionmaker.begin() as session:
        policy = await policies.publish_policy(
            session, document=document, created_by=principal.key_id, now=datetime.now(UTC)
        )
    return policy_to_mds(policy)


async def _last_updated(session: SessionDep) -> int:
    return await policies.last_published_ms(session) or now_ms()


@mds.get("/policies", operation_id="mds_policy_list", summary="Policies in a period")
async def list_policies(
    session: SessionDep,
    start_date: Timestamp = None,
    end_date: Timestamp = None,
    active_only: Annotated[bool, Query()] = False,
) -> MdsResponse:
    """Policies whose effective period overlaps [start_date (default now), end_date]."""
    found = await policies.list_policies(
        session,
        start_ms=start_date if start_date is not None else now_ms(),
        end_ms=end_date,
        active_only=active_only,
    )
    return MdsResponse(mds_body(last_updated=await _last_updated(session), policies=list(found)))


@mds.get("/policies/{policy_id}", operation_id="mds_policy_get", summary="One policy")
async def get_policy(
    session: SessionDep, policy_id: Annotated[str, Path(pattern=UUID_PATTERN)]
) -> MdsResponse:
    """404 for unknown policies."""
    record = await policies.get_policy(session, policy_id=uuid.UUID(policy_id))
    return MdsResponse(mds_body(last_updated=await _last_updated(session), policies=[record]))
