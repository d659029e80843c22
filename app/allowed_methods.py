"""`Allow` on OPTIONS and 405 answers: every method the path serves, not one route's.

Starlette stops at the first route whose path matches, so a path served by several routes
(GET, PUT and DELETE of one zone are three routes) used to answer 405 with only one of
them in `Allow`, and OPTIONS was refused the same way.
"""

from collections.abc import Iterable

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> list[str]:
    """The methods the routes serve at the scope's path, OPTIONS included; empty if none."""
    methods: set[str] = set()
    # Route contexts: routers included into the app are resolved to their routes.
    for route in iter_route_contexts(list(routes)):
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods | {"OPTIONS"}) if methods else []


class AllowedMethods:
    """ASGI middleware: answer OPTIONS with 204 and correct the `Allow` of a 405."""

    def __init__(self, app: ASGIApp, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass every request on; only OPTIONS and 405 answers are touched."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            methods = allowed_methods(self.routes, scope)
            if methods:
                await _no_content(send, methods)
                return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = allowed_methods(self.routes, scope)
                if methods:
                    message = _with_allow(message, methods)
            await send(message)

        await self.app(scope, receive, send_with_allow)


def _allow_header(methods: list[str]) -> tuple[bytes, bytes]:
    return b"allow", ", ".join(methods).encode()


def _with_allow(message: Message, methods: list[str]) -> Message:
    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
    return {**message, "headers": [*headers, _allow_header(methods)]}


async def _no_content(send: Send, methods: list[str]) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": [_allow_header(methods)]})
    await send({"type": "http.response.body", "body": b""})
