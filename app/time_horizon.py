"""Pure-ASGI middleware that gives each request the configured time horizon, which the
bounded time types of `app.core.bounded` read while validating."""

from datetime import timedelta

from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.bounded import TIME_HORIZON


class TimeHorizonMiddleware:
    """Sets `TIME_HORIZON` for the duration of every request."""

    def __init__(self, app: ASGIApp, *, horizon: timedelta) -> None:
        self.app = app
        self.horizon = horizon

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request with this app's horizon."""
        token = TIME_HORIZON.set(self.horizon)
        try:
            await self.app(scope, receive, send)
        finally:
            TIME_HORIZON.reset(token)
