"""Resolve a bearer credential (API key or JWT) to a principal."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.tokens import TokenClaims, TokenConfig, issue_token, read_token
from app.core.auth import Principal, Scope
from app.core.errors import DomainError, Unauthenticated
from fleet.tenancy.keys import parse_key, secret_matches
from fleet.tenancy.service import StoredKey, load_key


class UnsupportedGrant(DomainError):
    """Only the OAuth2 client-credentials grant is offered."""


@dataclass
class KeyCache:
    """A short-lived, bounded per-process cache of found keys; its TTL bounds revocation delay.

    Unknown key ids are not cached, so a flood of made-up keys cannot fill it.
    """

    ttl_s: float
    max_entries: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _entries: dict[str, tuple[float, StoredKey]] = field(default_factory=dict)

    def get(self, key_id: str) -> StoredKey | None:
        """The cached key, unless absent or expired."""
        entry = self._entries.get(key_id)
        if entry is None or entry[0] < self.clock():
            return None
        return entry[1]

    def put(self, stored: StoredKey) -> None:
        """Remember a found key, dropping the oldest entry when full."""
        if self.ttl_s <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.pop(next(iter(self._entries)))
        self._entries[stored.key_id] = (self.clock() + self.ttl_s, stored)


@dataclass
class Authenticator:
    """Checks credentials against the key table, through a small cache."""

    sessionmaker: async_sessionmaker[AsyncSession]
    tokens: TokenConfig
    cache: KeyCache

    async def _stored(self, key_id: str) -> StoredKey | None:
        stored = self.cache.get(key_id)
        if stored is None:
            async with self.sessionmaker() as session:
                stored = await load_key(session, key_id=key_id)
            if stored is not None:
                self.cache.put(stored)
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
        # The token may narrow the key's rights, never widen them.
        granted = frozenset(Scope(s) for s in claims.scopes if s in _SCOPES)
        return replace(principal, scopes=principal.scopes & granted)

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
