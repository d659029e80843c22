"""Signed access tokens (JWT, HS256); pure functions that take `now`."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

ALGORITHM = "HS256"


@dataclass(frozen=True)
class TokenClaims:
    """What fleetbed puts in and reads from an access token."""

    key_id: str
    role: str
    scopes: frozenset[str]
    provider_id: uuid.UUID | None


@dataclass(frozen=True)
class TokenConfig:
    """Signing parameters."""

    secret: str
    issuer: str
    audience: str
    ttl: timedelta


def issue_token(claims: TokenClaims, config: TokenConfig, *, now: datetime) -> str:
    """Encode `claims` as a JWT valid from `now` for `config.ttl`."""
    payload: dict[str, Any] = {
        "iss": config.issuer,
        "aud": config.audience,
        "sub": claims.key_id,
        "iat": int(now.timestamp()),
        "exp": int((now + config.ttl).timestamp()),
        "jti": uuid.uuid4().hex,
        "role": claims.role,
        "scope": " ".join(sorted(claims.scopes)),
    }
    if claims.provider_id is not None:
        payload["provider_id"] = str(claims.provider_id)
    return jwt.encode(payload, config.secret, algorithm=ALGORITHM)


def read_token(token: str, config: TokenConfig, *, now: datetime) -> TokenClaims | None:
    """Verify signature, issuer, audience and expiry at `now`; None when any fails."""
    try:
        payload = jwt.decode(
            token,
            config.secret,
            algorithms=[ALGORITHM],
            audience=config.audience,
            issuer=config.issuer,
            options={"verify_exp": False, "require": ["exp", "sub", "role"]},
        )
        if int(payload["exp"]) <= now.timestamp():
            return None
        provider = payload.get("provider_id")
        return TokenClaims(
            key_id=str(payload["sub"]),
            role=str(payload["role"]),
            scopes=frozenset(str(payload.get("scope", "")).split()),
            provider_id=uuid.UUID(provider) if provider else None,
        )
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return None
