"""Composition root: `create_app(settings)`."""

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta

from fastapi import FastAPI

from app.auth.authenticator import Authenticator, KeyCache
from app.auth.tokens import TokenConfig
from app.errors import install_error_handlers
from app.logging_setup import configure_logging
from app.migrations import head_revision
from app.observability import HttpMetrics, ObservabilityMiddleware
from app.openapi_doc import build_openapi
from app.resources import Resources, close_resources, open_resources
from app.routers import auth, health, mds_agency, v1_live
from app.settings import Settings
from fleet.ingest.events import EventIngest
from fleet.ingest.live import LiveFeed
from fleet.ingest.telemetry import TelemetryIngest
from fleet.maintenance import PartitionPolicy, Upkeep
from fleet.vehicles.directory import DeviceDirectory
from telemetry.history import HistoryWriter
from telemetry.hotstate.store import HotState

log = logging.getLogger("fleetbed")

DESCRIPTION = """\
Fleet-management backend for Helsingborg's mobility testbed.

* **MDS Agency 2.0** (`/mds/agency`) for vehicle gateways: vehicles, telemetry, events,
  vehicle status.
* **Live fleet** (`/v1`) for operator apps: nearest vehicles, vehicles in a box,
  one vehicle, supply per H3 cell.
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


def _start_upkeep(
    settings: Settings, resources: Resources, live: LiveFeed
) -> asyncio.Task[None] | None:
    if settings.hotstate.catchup_interval_s <= 0:
        return None
    upkeep = Upkeep(
        engine=resources.engine,
        sessionmaker=resources.sessionmaker,
        live=live,
        policy=PartitionPolicy(
            settings.telemetry.partition_days_ahead, settings.telemetry.retention_days
        ),
        partition_interval_s=settings.telemetry.maintenance_interval_s,
        tick_s=settings.hotstate.catchup_interval_s,
    )
    return asyncio.create_task(upkeep.run(), name="fleetbed-upkeep")


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
        live = LiveFeed(HotState(resources.redis))
        directory = DeviceDirectory()
        app.state.live = live
        app.state.telemetry_ingest = TelemetryIngest(directory, HistoryWriter(), live)
        app.state.event_ingest = EventIngest(directory, live)
        upkeep = _start_upkeep(settings, resources, live)
        try:
            yield
        finally:
            if upkeep is not None:
                upkeep.cancel()
                with suppress(asyncio.CancelledError):
                    await upkeep
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
    for module in (health, auth, mds_agency, v1_live):
        app.include_router(module.router)
    app.add_middleware(ObservabilityMiddleware, metrics=app.state.metrics)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app


def create_app_from_env() -> FastAPI:
    """Factory for worker processes: settings from the environment, logging configured."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings)
