"""Which providers' data a caller may see: the one rule every read route applies."""

import uuid

from app.core.auth import CITYWIDE_ROLES, Principal, Role
from fleet.live.queries import Scope as LiveScope


def sees_every_provider(principal: Principal) -> bool:
    """City-wide roles act for the whole city; every other role for its own operator."""
    return principal.role in CITYWIDE_ROLES


def providers_for(principal: Principal, wanted: uuid.UUID | None) -> list[uuid.UUID] | None:
    """The providers whose data a read covers: None for all, empty for none. City-wide
    roles see every provider (or the one asked for); operators their own, and nothing
    when they ask for another's (so it reads as not found, never as a leak)."""
    if sees_every_provider(principal):
        return [wanted] if wanted else None
    own = principal.provider_id
    return [own] if own and wanted in (None, own) else []


def hides_trips(principal: Principal) -> bool:
    """City staff see no vehicle on a trip (it would give the rider away); only admins do."""
    return sees_every_provider(principal) and principal.role is not Role.ADMIN


def live_scope(principal: Principal, wanted: uuid.UUID | None) -> LiveScope:
    """`providers_for` as the live queries take it, with trips hidden as `hides_trips`."""
    visible = providers_for(principal, wanted)
    return LiveScope(
        tuple(visible) if visible is not None else None, hide_on_trip=hides_trips(principal)
    )
