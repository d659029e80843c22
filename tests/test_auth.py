"""Credentials: API keys, access tokens, revocation, roles and scopes."""

from datetime import UTC, datetime, timedelta

import jwt
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.settings import Settings
from fleet.tenancy.models import ApiKey
from fleet.tenancy.service import revoke_key
from tests.config import MDS_ACCEPT
from tests.conftest import TenantFactory

VEHICLES = "/mds/agency/vehicles"


async def _token(client: AsyncClient, client_id: str, secret: str) -> dict[str, object]:
    response = await client.post(
        "/auth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_missing_credentials_are_401_with_mds_body(client: AsyncClient) -> None:
    response = await client.get(VEHICLES, headers={"Accept": MDS_ACCEPT})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "unauthorized"


async def test_non_bearer_scheme_is_401(client: AsyncClient) -> None:
    response = await client.get(VEHICLES, headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert response.status_code == 401


async def test_malformed_and_unknown_keys_are_401(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    wrong_secret = gateway.key[:-4] + ("AAAA" if not gateway.key.endswith("AAAA") else "BBBB")
    unknown_id = "fbk_" + "0" * 16 + gateway.key[20:]
    for credential in ("nonsense", wrong_secret, unknown_id, gateway.key + "x"):
        response = await client.get(VEHICLES, headers={"Authorization": f"Bearer {credential}"})
        assert response.status_code == 401, credential


async def test_revoked_key_is_401(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    assert (await client.get(VEHICLES, headers=gateway.headers)).status_code == 200
    await revoke_key(session, key_id=gateway.key_id)
    await session.flush()
    response = await client.get(VEHICLES, headers=gateway.headers)
    assert response.status_code == 401
    assert "revoked" in response.json()["error_description"]


async def test_key_is_stored_only_as_hash(tenant: TenantFactory, session: AsyncSession) -> None:
    gateway = await tenant()
    stored = (
        await session.execute(select(ApiKey).where(ApiKey.key_id == gateway.key_id))
    ).scalar_one()
    secret = gateway.key.split(".", 1)[1]
    assert secret not in stored.secret_hash
    assert gateway.key not in stored.secret_hash
    assert len(stored.secret_hash) == 64


async def test_client_credentials_token_grants_the_key_rights(
    client: AsyncClient, tenant: TenantFactory, settings: Settings
) -> None:
    gateway = await tenant()
    body = await _token(client, gateway.key_id, gateway.key)
    assert body["token_type"] == "bearer"
    assert body["provider_id"] == str(gateway.provider_id)
    token = str(body["access_token"])
    secret = settings.auth.jwt_secret
    assert secret is not None
    claims = jwt.decode(token, secret.get_secret_value(), algorithms=["HS256"], audience="fleetbed")
    assert claims["provider_id"] == str(gateway.provider_id)
    assert "vehicles:write" in claims["scope"].split()
    response = await client.get(
        VEHICLES, headers={"Authorization": f"Bearer {token}", "Accept": MDS_ACCEPT}
    )
    assert response.status_code == 200


async def test_token_endpoint_accepts_http_basic(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    response = await client.post(
        "/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(gateway.key_id, gateway.key),
    )
    assert response.status_code == 200


async def test_token_endpoint_rejects_bad_requests(
    client: AsyncClient, tenant: TenantFactory
) -> None:
    gateway = await tenant()
    other = await tenant()
    mismatched = await client.post(
        "/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": other.key_id,
            "client_secret": gateway.key,
        },
    )
    assert mismatched.status_code == 401
    assert mismatched.headers["content-type"] == "application/problem+json"
    wrong_grant = await client.post(
        "/auth/token",
        data={"grant_type": "password", "client_id": gateway.key_id, "client_secret": gateway.key},
    )
    assert wrong_grant.status_code == 400
    assert wrong_grant.json()["error"] == "unsupported_grant_type"
    missing = await client.post("/auth/token", data={"grant_type": "client_credentials"})
    assert missing.status_code == 401


async def test_token_of_revoked_key_stops_working(
    client: AsyncClient, tenant: TenantFactory, session: AsyncSession
) -> None:
    gateway = await tenant()
    token = str((await _token(client, gateway.key_id, gateway.key))["access_token"])
    headers = {"Authorization": f"Bearer {token}", "Accept": MDS_ACCEPT}
    assert (await client.get(VEHICLES, headers=headers)).status_code == 200
    await revoke_key(session, key_id=gateway.key_id)
    await session.flush()
    assert (await client.get(VEHICLES, headers=headers)).status_code == 401


async def test_expired_or_forged_tokens_are_401(
    client: AsyncClient, tenant: TenantFactory, settings: Settings
) -> None:
    gateway = await tenant()
    secret = settings.auth.jwt_secret
    assert secret is not None
    now = datetime.now(UTC)
    base = {
        "iss": "fleetbed",
        "aud": "fleetbed",
        "sub": gateway.key_id,
        "role": "gateway",
        "scope": "vehicles:read",
        "provider_id": str(gateway.provider_id),
    }
    expired = jwt.encode(
        {**base, "iat": now - timedelta(hours=2), "exp": now - timedelta(hours=1)},
        secret.get_secret_value(),
        algorithm="HS256",
    )
    forged = jwt.encode(
        {**base, "exp": now + timedelta(hours=1)}, "another-key-" + "y" * 32, algorithm="HS256"
    )
    unsigned = jwt.encode({**base, "exp": now + timedelta(hours=1)}, None, algorithm="none")
    for token in (expired, forged, unsigned):
        response = await client.get(VEHICLES, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401


async def test_token_scopes_cannot_exceed_the_role(
    client: AsyncClient, tenant: TenantFactory, settings: Settings
) -> None:
    # A token claiming more scope than its key's role is cut back to the role.
    agent = await tenant(Role.FIELD_AGENT)
    secret = settings.auth.jwt_secret
    assert secret is not None
    now = datetime.now(UTC)
    token = jwt.encode(
        {
            "iss": "fleetbed",
            "aud": "fleetbed",
            "sub": agent.key_id,
            "role": "gateway",
            "scope": "vehicles:write vehicles:read",
            "provider_id": str(agent.provider_id),
            "exp": now + timedelta(hours=1),
        },
        secret.get_secret_value(),
        algorithm="HS256",
    )
    response = await client.post(
        VEHICLES, headers={"Authorization": f"Bearer {token}", "Accept": MDS_ACCEPT}, json=[{}]
    )
    assert response.status_code == 403


async def test_roles_without_the_right_get_403(client: AsyncClient, tenant: TenantFactory) -> None:
    agent = await tenant(Role.FIELD_AGENT)
    response = await client.post(VEHICLES, headers=agent.headers, json=[{}])
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    # City-wide roles read across providers but have no fleet of their own to push for.
    auditor = await tenant(Role.CITY_AUDITOR)
    assert (await client.get(VEHICLES, headers=auditor.headers)).status_code == 403
