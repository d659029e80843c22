"""Composition root: `create_app(settings)`."""

import gc
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from app.allowed_methods import AllowedMethods
from app.auth.authenticator import Authenticator, KeyCache
from app.auth.tokens import TokenConfig
from app.background import Supervisor
from app.body_guard import BodyGuard, BodyRules
from app.errors import TOKEN_PATH, install_error_handlers
from app.logging_setup import configure_logging
from app.migrations import head_revision
from app.observability import CommandMetrics, HttpMetrics, IngestMetrics, ObservabilityMiddleware
from app.openapi_doc import build_openapi
from app.resources import Resources, close_resources, make_blocking_redis, open_resources
from app.routers import (
    alerts,
    audit,
    auth,
    commands,
    compliance,
    dispatch,
    exports,
    gbfs,
    health,
    mds_agency,
    mds_geography,
    mds_metrics,
    mds_provider,
    policies,
    rebalancing,
    tasks,
    trips,
    v1_live,
    zones,
)
from app.settings import Settings
from app.time_horizon import TimeHorizonMiddleware
from app.zone_sync import ZoneSync
from fleet.background_jobs import BackgroundJobs, TaskUpkeep
from fleet.commands import feed as command_feed
from fleet.commands.delivery import CommandDelivery
from fleet.commands.mqtt import MqttCommands
from fleet.dispatch.runner import Reoptimiser
from fleet.gbfs.publisher import GbfsPublisher
from fleet.gbfs.service import Defaults
from fleet.ingest.dispatch import DispatchEvents
from fleet.ingest.events import EventIngest
from fleet.ingest.live import LiveFeed
from fleet.ingest.rules import ZoneRules
from fleet.ingest.tasks import TaskTriggers
from fleet.ingest.telemetry import TelemetryIngest
from fleet.ingest.trips import TripIngest
from fleet.rebalancing.pool import planning_executor
from fleet.rebalancing.runner import PlanRunner
from fleet.tasks.feed import TaskFeed
from fleet.trips.late_telemetry import LateTelemetry
from fleet.vehicles.directory import DeviceDirectory
from geofencing.registry import ZoneRegistry
from geofencing.violations import AlertLimits
from telemetry.history import HistoryWriter
from telemetry.hotstate.store import HotState
from telemetry.partitions import PartitionPolicy

log = logging.getLogger("fleetbed")

DESCRIPTION = """\
Fleet-management backend for Helsingborg's mobility testbed.

* **MDS Agency 2.0** (`/mds/agency`) for vehicle gateways: vehicles, telemetry, events,
  trips, vehicle status; batches are taken whole or not at all.
* **MDS Provider 2.0** (`/mds/provider`) for city auditors: trips, events, telemetry per
  UTC hour, recent events, vehicles and their status, monthly reports; every pull audited.
* **MDS Geography and Policy 2.0** (`/mds/geographies`, `/mds/policies`, public): the
  city's zones as geographies, its published policies.
* **MDS Metrics 2.0** (`/mds/metrics`): discovery and queries, audited.
* **Live fleet** (`/v1`) for operator apps and the city: nearest vehicles, vehicles in a
  box, one vehicle, supply per H3 cell.
* **Zones, policies, compliance, alerts** (`/v1/zones`, `/v1/geofence/check`,
  `/v1/policies`, `/v1/compliance`, `/v1/alerts`).
* **Field tasks** (`/v1/tasks`, `/v1/task-rules`): opened and closed by rules on ingest or
  by managers; field agents list them by distance, claim and complete them.
* **Rebalancing** (`/v1/demand/forecast`, `/v1/rebalancing/targets`,
  `/v1/rebalancing/plans`): demand per H3 cell and hour, vehicles each cell should hold,
  van routes that restore it, dispatched as pickup and drop-off tasks.
* **Dispatch of pods** (`/v1/dispatch/requests`, `/v1/dispatch/pods`,
  `/v1/dispatch/settings`): rides and deliveries booked with an answer at once (a pod and
  promised windows, or 409 with the reason), followed through the pods' MDS events; each
  pod's schedule is sent to it as a `set_route` command.
* **Vehicle commands** (`/v1/vehicles/{device_id}/commands`, `/v1/commands`,
  `/v1/gateway/commands`): lock, unlock, ring, cap the speed; delivered to gateways by
  HTTP long poll or MQTT, acked, expired when not finished in time.
* **Exports and audit** (`/v1/exports`, `/v1/audit-log`): trips, events and vehicle status
  as CSV, GeoJSON or Parquet for auditors; the log of every audited read.
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


def _start_background(
    supervisor: Supervisor,
    settings: Settings,
    resources: Resources,
    live: LiveFeed,
    registry: ZoneRegistry,
    feed: TaskFeed,
    delivery: CommandDelivery,
    reoptimiser: Reoptimiser,
    count_ack: Callable[[str], None],
) -> None:
    if settings.hotstate.catchup_interval_s > 0:
        jobs = BackgroundJobs(
            engine=resources.engine,
            sessionmaker=resources.sessionmaker,
            live=live,
            partitions=PartitionPolicy(
                settings.telemetry.partition_days_ahead, settings.telemetry.retention_days
            ),
            abandon_after_s=settings.trips.abandon_after_s,
        )
        supervisor.start(
            "partitions", jobs.keep_partitions, interval_s=settings.telemetry.maintenance_interval_s
        )
        supervisor.start(
            "trip-abandonment", jobs.abandon_trips, interval_s=settings.trips.abandon_interval_s
        )
        supervisor.start(
            "hotstate-catchup", jobs.catch_up, interval_s=settings.hotstate.catchup_interval_s
        )
        upkeep = TaskUpkeep(resources.sessionmaker, feed)
        every = settings.tasks.upkeep_interval_s
        supervisor.start("task-expiry", upkeep.expire_tasks, interval_s=every)
        supervisor.start("silent-vehicle-inspection", upkeep.inspect_silent, interval_s=every)
        supervisor.start(
            "command-expiry", delivery.expire, interval_s=settings.commands.expiry_interval_s
        )
        if settings.dispatch.reoptimise_interval_s > 0:
            supervisor.start(
                "dispatch-reoptimise",
                reoptimiser.step,
                interval_s=0,
                period_s=settings.dispatch.reoptimise_interval_s,
            )
    mqtt_url = settings.mqtt.url
    if mqtt_url is not None:
        mqtt = MqttCommands(mqtt_url, delivery, lambda: resources.sessionmaker, count_ack)
        supervisor.start(
            "mqtt-commands", mqtt.step, interval_s=0, period_s=mqtt.serve_s, close=mqtt.close
        )
    if settings.geofence.follow_changes:
        sync = ZoneSync(registry, resources, settings.geofence.resync_interval_s)
        supervisor.start(
            "zone-sync",
            sync.step,
            interval_s=0,
            period_s=settings.geofence.resync_interval_s,
            close=sync.close,
        )


async def _load_zones(registry: ZoneRegistry, resources: Resources) -> None:
    try:
        await registry.reload(resources.sessionmaker)
    except Exception as exc:
        # Start anyway: /readyz reports the database and the zones, and the zone sync retries.
        log.warning("zones not loaded at start", extra={"error": repr(exc)})


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
        hot = HotState(resources.redis)
        live = LiveFeed(hot)
        directory = DeviceDirectory()
        registry = ZoneRegistry(settings.geofence.resolution, ZoneInfo(settings.city_timezone))
        await _load_zones(registry, resources)
        limits = AlertLimits(**settings.alerts.model_dump())
        rules = ZoneRules(registry, hot, limits)
        app.state.zone_rules = rules
        app.state.live = live
        app.state.task_feed = TaskFeed(hot)
        triggers = TaskTriggers(app.state.task_feed, settings.tasks.rules_on_ingest)
        app.state.zones = registry
        share = settings.trips.discrepancy_share
        late = LateTelemetry(
            lateness=timedelta(seconds=settings.provider.hour_lateness_s),
            share=share,
            count_failure=ingest_metrics.count_remeasure_failure,
        )
        app.state.telemetry_ingest = TelemetryIngest(
            directory, HistoryWriter(), live, rules, ingest_metrics.count_sentinels, late, triggers
        )
        app.state.plan_runner = PlanRunner(
            planning_executor(settings.rebalancing.workers), lambda: resources.sessionmaker
        )
        app.state.dispatch = Reoptimiser(
            executor=lambda: app.state.plan_runner.executor,
            sessions=lambda: resources.sessionmaker,
            hot=hot,
            time_limit_s=settings.dispatch.reoptimise_time_limit_s,
            interval_s=settings.dispatch.reoptimise_interval_s,
            publish=lambda changes: command_feed.publish(resources.redis, changes),
        )
        pods = DispatchEvents(hot, app.state.dispatch.announce)
        app.state.event_ingest = EventIngest(
            directory, live, rules, ingest_metrics.count_event_sentinels, share, triggers, pods
        )
        app.state.trip_ingest = TripIngest(directory, rules, share)
        app.state.gbfs = GbfsPublisher(
            sessions=lambda: resources.sessionmaker,
            hot=hot,
            zones=registry,
            defaults=Defaults(
                languages=tuple(settings.gbfs.languages),
                feed_contact_email=settings.gbfs.feed_contact_email,
                timezone=settings.city_timezone,
            ),
            stale_after_s=settings.gbfs.stale_after_s,
            alert_recent_s=settings.gbfs.alert_recent_s,
        )
        delivery = CommandDelivery(
            sessions=lambda: resources.sessionmaker,
            redis=resources.redis,
            waiting=make_blocking_redis(settings),
            redeliver_after=timedelta(seconds=settings.commands.redeliver_after_s),
            max_per_poll=settings.commands.max_per_poll,
            max_wait_s=settings.commands.max_wait_s,
        )
        app.state.command_delivery = delivery
        supervisor = Supervisor(**settings.background.model_dump())
        app.state.background = supervisor
        _start_background(
            supervisor,
            settings,
            resources,
            live,
            registry,
            app.state.task_feed,
            delivery,
            app.state.dispatch,
            app.state.command_metrics.count_ack,
        )
        try:
            yield
        finally:
            # Neither a task that died nor a failing close keeps the others from closing.
            await supervisor.stop()
            await delivery.close()
            await app.state.plan_runner.close()
            await close_resources(resources)

    app = FastAPI(
        title="fleetbed",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = HttpMetrics()
    ingest_metrics = IngestMetrics(app.state.metrics.registry)
    app.state.command_metrics = CommandMetrics(app.state.metrics.registry)
    install_error_handlers(app)
    routers = (health, auth, mds_agency, mds_geography, v1_live, zones, alerts, policies)
    for module in (
        *routers,
        compliance,
        mds_provider,
        mds_metrics,
        audit,
        exports,
        trips,
        commands,
        tasks,
        rebalancing,
        dispatch,
        gbfs,
    ):
        app.include_router(module.router)
    app.include_router(policies.mds)
    app.add_middleware(AllowedMethods, routes=app.routes)
    app.add_middleware(
        TimeHorizonMiddleware, horizon=timedelta(days=settings.api.max_time_horizon_days)
    )
    rules = BodyRules(
        max_bytes=settings.api.max_body_bytes,
        max_depth=settings.api.max_json_depth,
        form_paths=frozenset({TOKEN_PATH}),
        self_scanned=(mds_agency.router.prefix + "/",),
    )
    app.add_middleware(BodyGuard, rules=rules)
    app.add_middleware(ObservabilityMiddleware, metrics=app.state.metrics)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app


def tune_runtime() -> None:
    """Process settings for serving: a gentler garbage collector.

    Every telemetry batch allocates thousands of short-lived objects, so CPython's default
    generation-0 threshold (700) makes the collector run many times per request; the
    ingest benchmark measured 20% of server CPU in it. Batches free their objects by
    reference counting anyway; the collector is only needed for cycles.
    """
    gc.set_threshold(50_000, 20, 100)


def create_app_from_env() -> FastAPI:
    """Factory for worker processes: settings from the environment, logging configured."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    tune_runtime()
    return create_app(settings)
