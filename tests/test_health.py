"""Liveness, readiness and metrics."""

from httpx import ASGITransport, AsyncClient, Response

from app.main import create_app
from tests.conftest import make_settings


async def test_healthz_answers(client: AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_every_dependency_ready(client: AsyncClient) -> None:
    response = await client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["failing"] == []
    assert set(body["checks"]) == {"postgresql", "postgis", "migrations", "redis", "zones"}
    assert all(check["ok"] for check in body["checks"].values())


async def readyz_with(**overrides: object) -> Response:
    """/readyz of an app whose settings differ from the suite's by `overrides`."""
    app = create_app(make_settings(**overrides))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as http,
    ):
        return await http.get("/readyz")


async def test_readyz_is_503_naming_redis_when_redis_is_down() -> None:
    # Nothing listens on port 9: a real connection attempt that fails.
    response = await readyz_with(redis_url="redis://127.0.0.1:9/0")
    body = response.json()
    assert response.status_code == 503
    assert body["failing"] == ["redis"]
    assert body["checks"]["postgresql"]["ok"] is True


async def test_readyz_is_503_naming_postgresql_when_it_is_unreachable() -> None:
    response = await readyz_with(database_url="postgresql+asyncpg://postgres@127.0.0.1:9/x")
    assert response.status_code == 503
    # Without the database the zone index could not load either.
    assert response.json()["failing"] == ["postgresql", "zones"]


async def test_readyz_is_503_naming_migrations_when_the_schema_is_behind(
    scratch_database_url: str,
) -> None:
    # A database with PostGIS but no migrations applied.
    response = await readyz_with(database_url=scratch_database_url)
    body = response.json()
    assert response.status_code == 503
    assert body["failing"] == ["migrations", "zones"]
    assert body["checks"]["postgis"]["ok"] is True


async def test_metrics_count_requests_by_route_template_and_status(client: AsyncClient) -> None:
    await client.get("/healthz")
    await client.get("/no/such/path")
    text = (await client.get("/metrics")).text
    assert 'fleetbed_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'route="unmatched",status="404"' in text
    assert "fleetbed_http_request_duration_seconds_bucket" in text


async def test_request_id_is_returned_and_honoured(client: AsyncClient) -> None:
    generated = await client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    unsafe = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"


async def test_unknown_path_is_problem_json(client: AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404
    assert body["instance"] == "/v1/nothing-here"
