"""Bounds every request body before the app sees it: media type (415), size (413), nesting (400).

A pure ASGI middleware, so that an over-large body is refused while it streams in: by its
`Content-Length` before a byte is read, or as soon as the bytes received cross the limit
for chunked bodies; the rest is never read. Bodies within the limit are handed on whole.
"""

from dataclasses import dataclass

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import DomainError, MalformedBody, PayloadTooLarge, UnsupportedMediaType
from app.core.json_shape import json_shape
from app.core.mds import MDS_MEDIA_TYPE
from app.errors import error_response, status_of

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})
MDS_MEDIA_TYPES = frozenset({"application/json", MDS_MEDIA_TYPE})
# Scanning a body this large goes to a worker thread, so the event loop keeps serving.
_SCAN_IN_THREAD_BYTES = 256 * 1024


def media_type(content_type: str | None) -> str | None:
    """The media type of a `Content-Type` header, lowercased, without parameters."""
    if content_type is None:
        return None
    return content_type.partition(";")[0].strip().lower() or None


def is_json(media: str | None) -> bool:
    """Whether a media type is JSON (`application/json` or a `+json` type)."""
    return (
        media is not None
        and media.startswith("application/")
        and (media == "application/json" or media.endswith("+json"))
    )


@dataclass(frozen=True)
class BodyRules:
    """What the guard allows."""

    max_bytes: int
    max_depth: int
    # Paths that read forms, not JSON (the OAuth2 token endpoint).
    form_paths: frozenset[str]
    # Path prefixes whose handlers measure the JSON shape themselves (batch parsers, which
    # need the item count from the same scan); the guard does not scan those twice.
    self_scanned: tuple[str, ...]


def media_refusal(path: str, headers: Headers, rules: BodyRules) -> DomainError | None:
    """Why a write's media type is refused, if it is."""
    media = media_type(headers.get("content-type"))
    if path.startswith("/mds/"):
        if media in MDS_MEDIA_TYPES:
            return None
        allowed = " or ".join(sorted(MDS_MEDIA_TYPES))
        return UnsupportedMediaType(
            f"Content-Type {media or '(none)'} is not accepted; send {allowed}",
            fields=("Content-Type",),
        )
    has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
    if not has_body or path in rules.form_paths or is_json(media):
        return None
    return UnsupportedMediaType(
        f"Content-Type {media or '(none)'} is not accepted; send application/json",
        fields=("Content-Type",),
    )


def _declared_too_large(headers: Headers, max_bytes: int) -> bool:
    length = headers.get("content-length", "")
    return length.isdigit() and int(length) > max_bytes


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body exceeds {max_bytes} bytes", fields=("body",))


class BodyGuard:
    """Refuses writes with a wrong media type, an over-large or an over-deep body."""

    def __init__(self, app: ASGIApp, rules: BodyRules) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check one request, then hand it on with its body read."""
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        path: str = scope["path"]
        refusal = media_refusal(path, headers, self.rules)
        if refusal is None and _declared_too_large(headers, self.rules.max_bytes):
            refusal = _too_large(self.rules.max_bytes)
        if refusal is not None:
            await _refuse(scope, receive, send, refusal, unread_body=True)
            return
        try:
            body = await _read_within(receive, self.rules.max_bytes)
        except _ClientGone:
            return
        if body is None:
            await _refuse(scope, receive, send, _too_large(self.rules.max_bytes), unread_body=True)
            return
        too_deep = await self._too_deep(path, headers, body)
        if too_deep is not None:
            await _refuse(scope, receive, send, too_deep, unread_body=False)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _too_deep(self, path: str, headers: Headers, body: bytes) -> MalformedBody | None:
        if not body or path.startswith(self.rules.self_scanned):
            return None
        if not is_json(media_type(headers.get("content-type"))):
            return None
        if len(body) > _SCAN_IN_THREAD_BYTES:
            shape = await anyio.to_thread.run_sync(json_shape, body)
        else:
            shape = json_shape(body)
        if shape.depth <= self.rules.max_depth:
            return None
        return MalformedBody(
            f"body nests {shape.depth} levels deep; at most {self.rules.max_depth}",
            fields=("body",),
        )


class _ClientGone(Exception):
    """The client disconnected before its body was complete: nothing to answer."""


async def _read_within(receive: Receive, max_bytes: int) -> bytes | None:
    """The whole body, or None as soon as it grows past `max_bytes` (the rest stays unread)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that yields the body read already, then whatever the client sends next."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _refuse(
    scope: Scope, receive: Receive, send: Send, error: DomainError, *, unread_body: bool
) -> None:
    request = Request(scope)
    # An unread body is still on the connection; closing it is cheaper than draining it.
    headers = {"Connection": "close"} if unread_body else None
    response = error_response(
        request, status_of(error), error.detail, details=list(error.fields), headers=headers
    )
    await response(scope, receive, send)
