"""OAuth2 client-credentials token endpoint."""

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel

from app.auth.authenticator import Authenticator, UnsupportedGrant
from app.core.bounded import SafeStr
from app.core.errors import Unauthenticated

router = APIRouter(tags=["auth"])


class TokenResponse(BaseModel):
    """RFC 6749 access token response."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the RFC 6749 token type
    expires_in: int
    scope: str
    provider_id: str | None = None


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, sep, secret = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (client_id, secret) if sep else None


@router.post(
    "/auth/token",
    operation_id="issue_token",
    summary="Exchange a key for an access token (OAuth2 client credentials)",
    response_model=TokenResponse,
)
async def issue_token(
    request: Request,
    grant_type: Annotated[SafeStr, Form()],
    client_id: Annotated[SafeStr | None, Form()] = None,
    client_secret: Annotated[SafeStr | None, Form()] = None,
) -> TokenResponse:
    """`client_id` is the key id, `client_secret` the key; HTTP Basic works too."""
    if grant_type != "client_credentials":
        raise UnsupportedGrant("grant_type must be client_credentials", fields=("grant_type",))
    basic = _basic_credentials(request.headers.get("authorization", ""))
    if basic is not None:
        client_id, client_secret = basic
    if not client_id or not client_secret:
        raise Unauthenticated("client_id and client_secret are required")
    authenticator: Authenticator = request.app.state.authenticator
    token, principal = await authenticator.issue(client_id, client_secret)
    return TokenResponse(
        access_token=token,
        expires_in=int(authenticator.tokens.ttl.total_seconds()),
        scope=" ".join(sorted(s.value for s in principal.scopes)),
        provider_id=str(principal.provider_id) if principal.provider_id else None,
    )
