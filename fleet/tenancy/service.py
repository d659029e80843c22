"""Provider and key management; services flush, the caller commits."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import CITYWIDE_ROLES, ROLE_SCOPES, Mode, Principal, Role
from app.core.errors import Conflict, InvalidInput, NotFound
from fleet.tenancy.keys import hash_secret, new_key
from fleet.tenancy.models import ApiKey, Provider


@dataclass(frozen=True)
class IssuedKey:
    """A key as shown once to its owner."""

    key_id: str
    key: str
    role: Role
    provider_id: uuid.UUID | None


@dataclass(frozen=True)
class StoredKey:
    """What authentication needs to know about a key."""

    key_id: str
    secret_hash: str
    role: Role
    provider_id: uuid.UUID | None
    mode: Mode | None
    revoked: bool

    def principal(self) -> Principal:
        """The principal this key stands for."""
        return Principal(
            key_id=self.key_id,
            role=self.role,
            scopes=ROLE_SCOPES[self.role],
            provider_id=self.provider_id,
            mode=self.mode,
        )


async def create_provider(
    session: AsyncSession, *, name: str, mode: Mode, provider_id: uuid.UUID | None = None
) -> Provider:
    """Register an operator; names are unique."""
    provider = Provider(provider_id=provider_id or uuid.uuid4(), name=name, mode=mode.value)
    session.add(provider)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a provider named {name!r} or with that id exists already") from exc
    return provider


async def get_provider(session: AsyncSession, *, provider_id: uuid.UUID) -> Provider:
    """One provider, or NotFound."""
    provider = await session.get(Provider, provider_id)
    if provider is None:
        raise NotFound(f"provider {provider_id} not found")
    return provider


async def create_key(
    session: AsyncSession,
    *,
    role: Role,
    provider_id: uuid.UUID | None,
    name: str | None = None,
) -> IssuedKey:
    """Issue a key; provider-bound roles need a provider, city-wide roles must not have one."""
    if role in CITYWIDE_ROLES and provider_id is not None:
        raise InvalidInput(f"role {role} acts city-wide and takes no provider")
    if role not in CITYWIDE_ROLES:
        if provider_id is None:
            raise InvalidInput(f"role {role} needs a provider")
        await get_provider(session, provider_id=provider_id)
    parsed, printable = new_key()
    session.add(
        ApiKey(
            key_id=parsed.key_id,
            secret_hash=hash_secret(parsed.secret),
            role=role.value,
            provider_id=provider_id,
            name=name,
        )
    )
    await session.flush()
    return IssuedKey(key_id=parsed.key_id, key=printable, role=role, provider_id=provider_id)


async def revoke_key(session: AsyncSession, *, key_id: str, now: datetime | None = None) -> None:
    """Revoke a key; revoking twice is harmless, an unknown key is NotFound."""
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.key_id == key_id)
        # Keep the first revocation time when a key is revoked again.
        .values(revoked_at=func.coalesce(ApiKey.revoked_at, now or datetime.now(UTC)))
        .returning(ApiKey.key_id)
    )
    if result.first() is None:
        raise NotFound(f"key {key_id} not found")


async def load_key(session: AsyncSession, *, key_id: str) -> StoredKey | None:
    """A key with its provider's mode, or None."""
    row = (
        await session.execute(
            select(ApiKey, Provider.mode)
            .outerjoin(Provider, Provider.provider_id == ApiKey.provider_id)
            .where(ApiKey.key_id == key_id)
        )
    ).first()
    if row is None:
        return None
    key, mode = row
    return StoredKey(
        key_id=key.key_id,
        secret_hash=key.secret_hash,
        role=Role(key.role),
        provider_id=key.provider_id,
        mode=Mode(mode) if mode else None,
        revoked=key.revoked_at is not None,
    )
