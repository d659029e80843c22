"""Resolve a bearer credential (API key or JWT) to a principal."""

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.tokens import TokenClaims, TokenConfig, issue_token, read_token
from app.core.auth import Principal, Scope
from app.core.errors import Unauthenticated
from fleet.tenancy.keys import parse_key, secret_matches
from fleet.tenancy.service import StoredKey, load_key


@dataclass
class KeyCache:
    """A short-lived per-process cache of key lookups; its TTL bounds revocation delay."""

    ttl_s: float
    _entries: dict[str, tuple[float, StoredKey | None]] = field(default_factory=dict)

    def get(self, key_id: str) -> tuple[bool, StoredKey | None]:
        """(hit, value) for `key_id`."""
        entry = self._entries.get(key_id)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, key_id: str, value: StoredKey | None) -> None:
        """Remember a lookup result."""
        if self.ttl_s > 0:
            self._entries[key_id] = (time.monotonic() + self.ttl_s, value)


@dataclass
class Authenticator:
    """Checks credentials against the key table, through a small cache."""

    sessionmaker: async_sessionmaker[AsyncSession]
    tokens: TokenConfig
    cache: KeyCache

    async def _stored(self, key_id: str) -> StoredKey | None:
        hit, stored = self.cache.get(key_id)
        if not hit:
            async with self.sessionmaker() as session:
                stored = await load_key(session, key_id)
            self.cache.put(key_id, stored)
        return stored

    async def from_key(self, raw: str) -> Principal:
        """Principal of an API key, or Unauthenticated."""
        parsed = parse_key(raw)
        if parsed is None:
            raise Unauthenticated("malformed API key")
        stored = await self._stored(parsed.key_id)
        if stored is None or not secret_matches(parsed.secret, stored.secret_hash):
            raise Unauthenticated("unknown API key")
        if stored.revoked:
            raise Unauthenticated("API key revoked")
        return stored.principal()

    async def from_bearer(self, token: str) -> Principal:
        """Principal of a bearer credential: an API key or an access token we issued."""
        if parse_key(token) is not None:
            return await self.from_key(token)
        claims = read_token(token, self.tokens, now=datetime.now(UTC))
        if claims is None:
            raise Unauthenticated("invalid or expired access token")
        stored = await self._stored(claims.key_id)
        # A token dies with the key it was issued for.
        if stored is None or stored.revoked:
            raise Unauthenticated("the key behind this token is revoked")
        principal = stored.principal()
        return Principal(
            key_id=principal.key_id,
            role=principal.role,
            scopes=principal.scopes & frozenset(Scope(s) for s in claims.scopes if s in _SCOPES),
            provider_id=principal.provider_id,
            mode=principal.mode,
        )

    async def issue(self, client_id: str, client_secret: str) -> tuple[str, Principal]:
        """OAuth2 client credentials: the key id and the key itself."""
        principal = await self.from_key(client_secret)
        if principal.key_id != client_id:
            raise Unauthenticated("client_id does not match the key")
        claims = TokenClaims(
            key_id=principal.key_id,
            role=principal.role.value,
            scopes=frozenset(s.value for s in principal.scopes),
            provider_id=principal.provider_id,
        )
        return issue_token(claims, self.tokens, now=datetime.now(UTC)), principal


_SCOPES = frozenset(s.value for s in Scope)
