"""Request ids, access logs and Prometheus metrics, as one pure-ASGI middleware."""

import logging
import re
import time
import uuid
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logging_setup import request_id_var

log = logging.getLogger("fleetbed.access")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class HttpMetrics:
    """Request counters and latency histograms in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "fleetbed_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "fleetbed_http_request_duration_seconds",
            "HTTP request latency by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )


class IngestMetrics:
    """What ingest stored as given but treats as unknown, in the app's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sentinels = Counter(
            "fleetbed_telemetry_sentinel_values",
            "Stored telemetry points whose GPS field held a legal but meaningless value "
            "(a negative speed or accuracy, a heading outside 0-360), by field.",
            ["field"],
            registry=registry,
        )

        self.event_sentinels = Counter(
            "fleetbed_event_sentinel_values",
            "Stored events whose location held a legal but meaningless GPS value, by field.",
            ["field"],
            registry=registry,
        )

        self.remeasure_failures = Counter(
            "fleetbed_trip_remeasure_failures",
            "Telemetry batches stored and acknowledged whose trips could not be re-measured.",
            registry=registry,
        )

    def count_remeasure_failure(self) -> None:
        """One batch whose re-measure failed."""
        self.remeasure_failures.inc()

    def count_sentinels(self, counts: Mapping[str, int]) -> None:
        """Add one telemetry batch's counts per field."""
        for field, count in counts.items():
            self.sentinels.labels(field).inc(count)

    def count_event_sentinels(self, counts: Mapping[str, int]) -> None:
        """Add one event batch's counts per field."""
        for field, count in counts.items():
            self.event_sentinels.labels(field).inc(count)


class CommandMetrics:
    """What became of the acks vehicles' gateways sent over MQTT, in the app's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.mqtt_acks = Counter(
            "fleetbed_mqtt_acks",
            "Command acks read from the MQTT broker, by outcome: applied; ignored (the topic "
            "names another provider or vehicle than the command's); refused (unreadable, or "
            "not allowed in the command's state).",
            ["outcome"],
            registry=registry,
        )

    def count_ack(self, outcome: str) -> None:
        """One ack read from the broker."""
        self.mqtt_acks.labels(outcome).inc()


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    # Unmatched paths share one label so that scanners cannot blow up the series count.
    return str(path) if path else "unmatched"


class ObservabilityMiddleware:
    """Assigns a request id, times the request, counts it and logs one line."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap one HTTP request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = scope["method"]
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route, method).observe(elapsed)
            state = scope.get("state") or {}
            log.info(
                "request",
                extra={
                    "method": method,
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "key_id": state.get("key_id"),
                },
            )
            request_id_var.reset(token)
