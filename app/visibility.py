"""Which providers' data a caller may see (shared by the city-facing read APIs)."""

import uuid

from app.core.auth import CITYWIDE_ROLES, Principal, Role


def providers_for(principal: Principal, wanted: uuid.UUID | None) -> list[uuid.UUID] | None:
    """City-wide roles see every provider (or the one asked for); operators their own."""
    if principal.role in CITYWIDE_ROLES:
        return [wanted] if wanted else None
    own = principal.provider_id
    return [own] if own and wanted in (None, own) else []


def hides_trips(principal: Principal) -> bool:
    """City staff see no vehicle on a trip (it would give the rider away); only admins do."""
    return principal.role in CITYWIDE_ROLES and principal.role is not Role.ADMIN
