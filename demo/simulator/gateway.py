"""The simulated vehicle gateways: MDS Agency over HTTP, one gateway key per provider."""

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from app.core.mds import MDS_MEDIA_TYPE, MDS_MEDIA_VERSION
from demo.fleet_plan import PlannedVehicle
from demo.simulator.batches import Batch, Endpoint, chunks
from demo.simulator.report import NO_ANSWER, Report

MDS_ACCEPT = f"{MDS_MEDIA_TYPE};version={MDS_MEDIA_VERSION}"
# fleetbed's default page size cap and a vehicle batch every configuration accepts.
PAGE_SIZE = 1000
REGISTER_BATCH = 100
RETRIES = 3


@dataclass(frozen=True)
class Credentials:
    """A provider's id and its gateway key (kept out of any repr)."""

    provider_id: str
    gateway_key: str = field(repr=False)

    @property
    def headers(self) -> dict[str, str]:
        """The headers of every request of this provider."""
        return {
            "Authorization": f"Bearer {self.gateway_key}",
            "Accept": MDS_ACCEPT,
            "Content-Type": "application/json",
        }


@dataclass
class RateCap:
    """At most `per_s` telemetry points a second, spread over time (None: no cap)."""

    per_s: float | None
    _next_free: float = 0.0

    async def take(self, points: int) -> None:
        """Wait until `points` more may be sent."""
        if not self.per_s:
            return
        now = time.monotonic()
        start = max(now, self._next_free)
        self._next_free = start + points / self.per_s
        if start > now:
            await asyncio.sleep(start - now)


async def pages(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], key: str
) -> list[dict[str, Any]]:
    """Every record under `key` of a paged list, its pages followed by `links.next`."""
    found: list[dict[str, Any]] = []
    following: str | None = url
    while following:
        response = await client.get(following, headers=headers)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        found += body.get(key, [])
        following = (body.get("links") or {}).get("next")
    return found


@dataclass
class Gateway:
    """Posts batches for each provider with its key; records every answer in `report`."""

    client: httpx.AsyncClient
    credentials: dict[str, Credentials]
    report: Report
    cap: RateCap = field(default_factory=lambda: RateCap(None))
    retry_delay_s: float = 0.5
    # Providers' batches side by side; one request at a time when False (a server in the
    # same process whose sessions share one connection, as in tests).
    parallel: bool = True

    async def _post(self, batch: Batch) -> httpx.Response | None:
        body = orjson.dumps(batch.items)
        headers = self.credentials[batch.provider].headers
        response: httpx.Response | None = None
        for attempt in range(RETRIES):
            try:
                response = await self.client.post(
                    batch.endpoint.path, content=body, headers=headers
                )
            except httpx.TransportError:
                response = None
            # A gateway retries what may succeed later: no answer, overload, server errors.
            if response is not None and response.status_code < 500 and response.status_code != 429:
                break
            if attempt + 1 < RETRIES:
                await asyncio.sleep(self.retry_delay_s * 2**attempt)
        status = NO_ANSWER if response is None else response.status_code
        detail = "" if response is None or status in (200, 201) else response.text
        self.report.record(batch.endpoint, len(batch.items), status, batch.note, detail)
        return response

    async def _send_provider(self, batches: Sequence[Batch]) -> None:
        for batch in batches:
            if batch.endpoint is Endpoint.TELEMETRY:
                await self.cap.take(len(batch.items))
            await self._post(batch)

    async def send(self, batches: Sequence[Batch]) -> None:
        """Post the batches: each provider's in order, the providers side by side."""
        by_provider: dict[str, list[Batch]] = {}
        for batch in batches:
            by_provider.setdefault(batch.provider, []).append(batch)
        if self.parallel:
            await asyncio.gather(*(self._send_provider(b) for b in by_provider.values()))
        else:
            for provider_batches in by_provider.values():
                await self._send_provider(provider_batches)

    async def _pages(self, provider: str, suffix: str, key: str) -> list[dict[str, Any]]:
        """Every record of a paged `GET /mds/agency/vehicles{suffix}` list."""
        url = f"{Endpoint.VEHICLES.path}{suffix}?limit={PAGE_SIZE}"
        return await pages(self.client, url, self.credentials[provider].headers, key)

    async def registered(self, provider: str) -> set[str]:
        """The device ids the provider has registered (`GET /mds/agency/vehicles`, paged)."""
        return {v["device_id"] for v in await self._pages(provider, "", "vehicles")}

    async def latest_ms(self, provider: str) -> int:
        """The newest event or telemetry timestamp the server holds of the provider's
        vehicles (`GET /mds/agency/vehicles/status`, paged); 0 when none."""
        latest = 0
        for status in await self._pages(provider, "/status", "vehicles_status"):
            for part in ("last_event", "last_telemetry"):
                latest = max(latest, int((status.get(part) or {}).get("timestamp", 0)))
        return latest

    async def register(self, provider: str, fleet: Sequence[PlannedVehicle]) -> int:
        """Register the provider's planned vehicles not registered yet; returns how many."""
        credentials = self.credentials[provider]
        known = await self.registered(provider)
        missing = [
            v.mds_vehicle(uuid.UUID(credentials.provider_id))
            for v in fleet
            if str(v.device_id) not in known
        ]
        added = 0
        for items in chunks(missing, REGISTER_BATCH):
            response = await self._post(Batch(provider, Endpoint.VEHICLES, items))
            if response is not None and response.status_code == 409:
                # Registered meanwhile (a seed running alongside): register the others.
                taken = {f["item"]["device_id"] for f in response.json().get("failures", [])}
                rest = [v for v in items if v["device_id"] not in taken]
                if rest:
                    response = await self._post(Batch(provider, Endpoint.VEHICLES, rest))
                    added += (
                        len(rest) if response is not None and response.status_code == 201 else 0
                    )
            elif response is not None and response.status_code == 201:
                added += len(items)
        return added
