"""GBFS 3.0, public and without credentials: /gbfs/manifest.json and /gbfs/{system_id}/…;
and each operator's settings of its system (/v1/gbfs/system)."""

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Request, Response

from app.core.auth import Principal, Scope
from app.deps import SessionDep, require
from fleet.gbfs import service
from fleet.gbfs.cache import CachedFile
from fleet.gbfs.feeds import SystemView
from fleet.gbfs.publisher import FILES, GbfsPublisher
from fleet.gbfs.schemas import GbfsSystemBody, GbfsSystemRead, PublicVehicleRead

router = APIRouter(tags=["gbfs"])

SystemId = Annotated[str, Path(pattern=r"^[A-Za-z0-9.@:_-]{1,64}$")]
Manager = Annotated[Principal, Depends(require(Scope.GBFS_MANAGE, provider_bound=True))]
Reader = Annotated[Principal, Depends(require(Scope.FLEET_READ, provider_bound=True))]
PublicId = Annotated[str, Path(pattern=r"^[A-Za-z0-9.@:/_-]{1,64}$")]


def _publisher(request: Request) -> GbfsPublisher:
    publisher: GbfsPublisher = request.app.state.gbfs
    return publisher


def _base_url(request: Request) -> str:
    configured: str | None = request.app.state.settings.gbfs.base_url
    return configured or str(request.base_url).rstrip("/")


def _matches(header: str | None, etags: set[str]) -> bool:
    if header is None:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or bool(tags & etags)


def _accepts_gzip(header: str | None) -> bool:
    for part in (header or "").lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() == "gzip":
            return params.replace(" ", "") not in {"q=0", "q=0.0", "q=0.00", "q=0.000"}
    return False


def _answer(request: Request, file: CachedFile) -> Response:
    """The file (gzipped when the client takes it, as built once), or 304 when the client
    holds it; cacheable for what is left of its ttl."""
    gzipped = _accepts_gzip(request.headers.get("accept-encoding"))
    # Each encoding is its own representation, with its own entity tag.
    gzip_tag = f'{file.etag[:-1]}-gzip"'
    headers = {
        "ETag": gzip_tag if gzipped else file.etag,
        "Cache-Control": f"public, max-age={file.max_age(time.monotonic())}",
        "Vary": "Accept-Encoding",
        # Trip planners and maps read the feeds from browsers of any origin.
        "Access-Control-Allow-Origin": "*",
    }
    if _matches(request.headers.get("if-none-match"), {file.etag, gzip_tag}):
        return Response(status_code=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
        return Response(file.gzipped, media_type="application/json", headers=headers)
    return Response(file.body, media_type="application/json", headers=headers)


@router.get(
    "/gbfs/manifest.json",
    operation_id="gbfs_manifest",
    summary="Every GBFS system of this deployment",
    responses={304: {"description": "Not modified (If-None-Match)"}},
)
async def manifest(request: Request) -> Response:
    """GBFS manifest.json: the gbfs.json of each published system."""
    return _answer(request, await _publisher(request).manifest(_base_url(request)))


def _file_route(name: str) -> Callable[[Request, str], Awaitable[Response]]:
    async def serve(request: Request, system_id: SystemId) -> Response:
        publisher = _publisher(request)
        return _answer(request, await publisher.system_file(system_id, name, _base_url(request)))

    serve.__doc__ = f"GBFS 3.0 {name}.json of the system."
    return serve


for _name in FILES:
    router.add_api_route(
        f"/gbfs/{{system_id}}/{_name}.json",
        _file_route(_name),
        methods=["GET"],
        operation_id=f"gbfs_{_name}",
        summary=f"GBFS {_name}.json",
        responses={
            304: {"description": "Not modified (If-None-Match)"},
            404: {"description": "No such published system"},
        },
    )


def _read(system: SystemView, request: Request) -> GbfsSystemRead:
    settings = system.body.model_dump(exclude={"system_id"})
    return GbfsSystemRead(
        system_id=system.system_id,
        gbfs_url=system.file_url(_base_url(request), "gbfs"),
        **settings,
    )


@router.get(
    "/v1/gbfs/system",
    operation_id="v1_get_gbfs_system",
    summary="The caller's GBFS system: its id, texts, prices and ttls",
    response_model=GbfsSystemRead,
)
async def get_system(session: SessionDep, principal: Manager, request: Request) -> GbfsSystemRead:
    """The settings as stored; the feeds fill in defaults for what is left out."""
    provider_id, _ = principal.acting_for()
    system = await service.system_of(
        session,
        provider_id=provider_id,
        defaults=_publisher(request).defaults,
        now=datetime.now(UTC),
    )
    return _read(system, request)


@router.put(
    "/v1/gbfs/system",
    operation_id="v1_put_gbfs_system",
    summary="Replace the caller's GBFS settings",
    response_model=GbfsSystemRead,
)
async def put_system(
    session: SessionDep,
    principal: Manager,
    request: Request,
    background: BackgroundTasks,
    body: GbfsSystemBody,
) -> GbfsSystemRead:
    """Fields left out take their defaults; this process serves the change at once, others
    within the files' ttls."""
    provider_id, _ = principal.acting_for()
    publisher = _publisher(request)
    before = await service.system_of(
        session, provider_id=provider_id, defaults=publisher.defaults, now=datetime.now(UTC)
    )
    system = await service.put_system(
        session,
        provider_id=provider_id,
        body=body,
        defaults=publisher.defaults,
        actor=principal.key_id,
        now=datetime.now(UTC),
    )
    # Once committed, so that no build in between caches the old settings again.
    background.add_task(publisher.forget, before.system_id, system.system_id)
    return _read(system, request)


@router.get(
    "/v1/gbfs/vehicles/{vehicle_id}",
    operation_id="v1_gbfs_vehicle",
    summary="Which of the caller's vehicles a public GBFS vehicle_id stands for",
    response_model=PublicVehicleRead,
)
async def public_vehicle(
    session: SessionDep, principal: Reader, request: Request, vehicle_id: PublicId
) -> PublicVehicleRead:
    """For the operator's own apps (a rental deep link carries the public id): the device,
    as long as the vehicle has not been rented since; 404 otherwise."""
    provider_id, _ = principal.acting_for()
    device_id = await _publisher(request).device_of(
        session, provider_id=provider_id, vehicle_id=vehicle_id
    )
    return PublicVehicleRead(vehicle_id=vehicle_id, device_id=device_id)
