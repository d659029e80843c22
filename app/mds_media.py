"""MDS media type negotiation and responses (`application/vnd.mds+json;version=2.0`)."""

from typing import Annotated, Any

import orjson
from fastapi import Header
from fastapi.responses import JSONResponse

from app.core.errors import DomainError
from app.core.mds import MDS_MEDIA_TYPE, MDS_MEDIA_VERSION, MDS_VERSION

MDS_CONTENT_TYPE = f"{MDS_MEDIA_TYPE};version={MDS_MEDIA_VERSION}"


class UnsupportedVersion(DomainError):
    """The client asked for an MDS version this server does not speak."""


def negotiate(accept: str | None) -> str:
    """The MDS version to answer with, from an Accept header.

    Only 2.0 is spoken. A client that names no MDS media type (no header, `*/*`,
    `application/json`) gets 2.0 too, since the pre-versioning fallbacks MDS lists
    (0.3, 0.4) are not served. Naming the MDS type with another or no version is refused.
    """
    if not accept:
        return MDS_MEDIA_VERSION
    offered: list[str | None] = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if media.lower() != MDS_MEDIA_TYPE:
            continue
        version = None
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "version":
                version = value.strip().strip('"')
        offered.append(version)
    if not offered or MDS_MEDIA_VERSION in offered:
        return MDS_MEDIA_VERSION
    raise UnsupportedVersion(
        f"MDS version {offered[0] or '(none given)'} is not supported; ask for {MDS_CONTENT_TYPE}",
        fields=("Accept",),
    )


async def mds_version(accept: Annotated[str | None, Header()] = None) -> str:
    """Dependency: refuse unsupported versions before anything else happens."""
    return negotiate(accept)


class MdsResponse(JSONResponse):
    """JSON with the MDS media type, serialised by orjson."""

    media_type = MDS_CONTENT_TYPE

    def render(self, content: Any) -> bytes:
        """orjson encoding; UUIDs and enums come out as strings."""
        return orjson.dumps(content)


def mds_body(**fields: Any) -> dict[str, Any]:
    """An MDS response body carrying the version."""
    return {"version": MDS_VERSION, **fields}
