"""GET /v1/audit-log: who pulled what (admins)."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from app.core.auth import Principal, Scope
from app.core.bounded import INT64_MAX
from app.deps import SessionDep, require
from fleet.reporting.audit import read_log

router = APIRouter(prefix="/v1", tags=["audit"])

Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]


class AuditEntryRead(BaseModel):
    """One pull."""

    entry_id: int
    at: datetime
    key_id: str
    role: str
    action: str
    params: dict[str, Any]
    rows: int


@router.get(
    "/audit-log",
    operation_id="v1_audit_log",
    summary="Who pulled what, newest first",
    response_model=list[AuditEntryRead],
)
async def audit_log(
    session: SessionDep,
    principal: Admin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[
        int | None, Query(ge=1, le=INT64_MAX, description="Entries older than this id")
    ] = None,
) -> list[AuditEntryRead]:
    """The log is append-only: the database refuses to change or delete entries."""
    found = await read_log(session, limit=limit, before=before)
    return [AuditEntryRead.model_validate(e, from_attributes=True) for e in found]
