"""Request dependencies: the unit of work, Redis, and the caller's identity."""

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.authenticator import Authenticator
from app.core.auth import Principal, Scope
from app.core.errors import Forbidden, Unauthenticated
from app.resources import Resources
from app.settings import Settings


def get_resources(request: Request) -> Resources:
    """The process's resources, made in the lifespan."""
    resources: Resources = request.app.state.resources
    return resources


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


async def _unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: committed when the handler returns, rolled back on error."""
    async with get_resources(request).sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# scope="function" commits before the response is sent, so a 2xx means committed.
SessionDep = Annotated[AsyncSession, Depends(_unit_of_work, scope="function")]


def get_redis(request: Request) -> Redis:
    """The process's Redis client."""
    return get_resources(request).redis


RedisDep = Annotated[Redis, Depends(get_redis)]


async def get_principal(request: Request) -> Principal:
    """The authenticated caller; 401 without valid credentials."""
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated("send credentials as 'Authorization: Bearer <key or token>'")
    authenticator: Authenticator = request.app.state.authenticator
    principal = await authenticator.from_bearer(credential.strip())
    request.state.key_id = principal.key_id
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(
    *scopes: Scope, provider_bound: bool = False
) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    """Dependency factory: the caller must hold every scope (and act for one provider)."""

    async def check(principal: PrincipalDep) -> Principal:
        missing = [s.value for s in scopes if not principal.has(s)]
        if missing:
            raise Forbidden(f"role {principal.role} lacks {', '.join(missing)}")
        if provider_bound and principal.provider_id is None:
            raise Forbidden("this endpoint needs a credential bound to a provider")
        return principal

    return check
