"""Composition root: `create_app(settings)`."""

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from app.auth.authenticator import Authenticator, KeyCache
from app.auth.tokens import TokenConfig
from app.errors import install_error_handlers
from app.migrations import head_revision
from app.observability import HttpMetrics, ObservabilityMiddleware
from app.openapi_doc import build_openapi
from app.resources import close_resources, open_resources
from app.routers import auth, health, mds_agency
from app.settings import Settings

log = logging.getLogger("fleetbed")

DESCRIPTION = """\
Fleet-management backend for Helsingborg's mobility testbed.

* **MDS Agency 2.0** (`/mds/agency`) for vehicle gateways: register vehicles.
* **Operations**: `/healthz`, `/readyz`, `/metrics`.
* **Auth**: `Authorization: Bearer <API key or access token>`; tokens from `/auth/token`.
"""


def _token_config(settings: Settings) -> TokenConfig:
    secret = settings.auth.jwt_secret
    if secret is None:
        log.warning(
            "FLEETBED_AUTH__JWT_SECRET is not set: using a random per-process signing key; "
            "access tokens will not work across processes or restarts"
        )
    return TokenConfig(
        secret=secret.get_secret_value() if secret else secrets.token_urlsafe(32),
        issuer=settings.auth.jwt_issuer,
        audience=settings.auth.jwt_audience,
        ttl=timedelta(seconds=settings.auth.token_ttl_s),
    )


def create_app(settings: Settings) -> FastAPI:
    """Build the API; resources are opened in the lifespan, not here."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resources = open_resources(settings, alembic_head=head_revision())
        app.state.resources = resources
        app.state.authenticator = Authenticator(
            sessionmaker=resources.sessionmaker,
            tokens=_token_config(settings),
            cache=KeyCache(ttl_s=settings.auth.key_cache_ttl_s),
        )
        try:
            yield
        finally:
            await close_resources(resources)

    app = FastAPI(
        title="fleetbed",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = HttpMetrics()
    install_error_handlers(app)
    for module in (health, auth, mds_agency):
        app.include_router(module.router)
    app.add_middleware(ObservabilityMiddleware, metrics=app.state.metrics)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app
