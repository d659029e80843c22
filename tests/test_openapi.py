"""The committed OpenAPI document is the app's, and it says what the app does."""

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from app.errors import PROBLEM_CONTENT_TYPE
from app.main import create_app
from app.mds_media import MDS_CONTENT_TYPE
from app.openapi_doc import OPENAPI_PATH, render_openapi
from app.settings import ApiSettings, TelemetrySettings
from tests.conftest import make_settings


def _default_limits_app() -> FastAPI:
    # The committed document is rendered with the default batch limits, as `fleetbed openapi`
    # does; the suite's app runs with smaller ones.
    return create_app(make_settings(api=ApiSettings(), telemetry=TelemetrySettings()))


def test_committed_openapi_matches_the_app() -> None:
    assert OPENAPI_PATH.exists(), "run 'fleetbed openapi' and commit openapi/openapi.json"
    assert OPENAPI_PATH.read_text() == render_openapi(_default_limits_app()), (
        "openapi/openapi.json is stale: run 'fleetbed openapi' and commit it"
    )


def test_operation_ids_are_unique_and_explicit(app: FastAPI) -> None:
    schema = app.openapi()
    ids = [op["operationId"] for path in schema["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    assert all("__" not in op_id for op_id in ids), ids


def _operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    paths = app.openapi()["paths"]
    return [(method, path, op) for path, ops in paths.items() for method, op in ops.items()]


def _media_types(operation: dict[str, Any], status: str) -> set[str]:
    return set(operation["responses"][status].get("content", {}))


def test_errors_are_documented_in_the_family_s_format(app: FastAPI) -> None:
    for method, path, operation in _operations(app):
        errors = [s for s in operation["responses"] if s.startswith(("4", "5"))]
        if path == "/readyz":
            continue
        for status in errors:
            expected = {MDS_CONTENT_TYPE} if path.startswith("/mds/") else {PROBLEM_CONTENT_TYPE}
            assert _media_types(operation, status) == expected, (method, path, status)
        if path.startswith("/mds/"):
            # MDS knows no 422: invalid requests are 400 there.
            assert "422" not in errors, (method, path)
        if operation.get("security"):
            assert {"401", "503"} <= set(errors), (method, path)
        if "{" in path:
            assert "404" in errors, (method, path)
        if "requestBody" in operation:
            assert "413" in errors, (method, path)
            assert ("415" in errors) == path.startswith("/mds/"), (method, path)


def test_authenticated_operations_name_the_bearer_scheme(app: FastAPI) -> None:
    document = app.openapi()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    public = {"/healthz", "/readyz", "/metrics", "/auth/token"}
    for method, path, operation in _operations(app):
        if path in public or path.startswith(("/mds/geographies", "/mds/policies", "/gbfs/")):
            assert "security" not in operation, (method, path)
        else:
            assert operation["security"] == [{"bearer": []}], (method, path)


@pytest.mark.parametrize(
    ("method", "path", "item", "limit"),
    [
        ("post", "/mds/agency/vehicles", "MdsVehicle", 100),
        ("put", "/mds/agency/vehicles", "MdsVehicle", 100),
        ("post", "/mds/agency/telemetry", "Telemetry", 5000),
        ("post", "/mds/agency/events", "Event", 5000),
        ("post", "/mds/agency/trips", "Trip", 5000),
    ],
)
def test_batch_bodies_name_their_items_and_limits(
    app: FastAPI, method: str, path: str, item: str, limit: int
) -> None:
    document = app.openapi()
    body = document["paths"][path][method]["requestBody"]
    assert body["required"] is True
    assert set(body["content"]) == {"application/json", MDS_CONTENT_TYPE}
    schema = body["content"]["application/json"]["schema"]
    assert schema["items"] == {"$ref": f"#/components/schemas/{item}"}
    assert (schema["minItems"], schema["maxItems"]) == (1, limit)
    assert item in document["components"]["schemas"]
    rejected = document["paths"][path][method]["responses"]["400"]
    refs = rejected["content"][MDS_CONTENT_TYPE]["schema"]["anyOf"]
    assert {"$ref": "#/components/schemas/MdsBulkFailure"} in refs


def test_parameters_the_handlers_require_are_required(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    for path, name in [
        ("/mds/provider/trips", "end_time"),
        ("/mds/provider/events/historical", "event_time"),
        ("/mds/provider/telemetry", "telemetry_time"),
        ("/mds/provider/events/recent", "start_time"),
        ("/mds/provider/events/recent", "end_time"),
    ]:
        [parameter] = [p for p in paths[path]["get"]["parameters"] if p["name"] == name]
        assert parameter["required"] is True, (path, name)
    live = paths["/v1/vehicles"]["get"]
    assert "exactly one of `near` and `bbox`" in live["description"]


async def test_options_and_405_allow_every_method_of_the_path(client: AsyncClient) -> None:
    zone = f"/v1/zones/{uuid.uuid4()}"
    options = await client.options(zone)
    assert options.status_code == 204
    assert options.headers["allow"] == "DELETE, GET, OPTIONS, PUT"
    refused = await client.patch(zone)
    assert refused.status_code == 405
    assert refused.headers["allow"] == "DELETE, GET, OPTIONS, PUT"
    mds = await client.delete("/mds/agency/vehicles")
    assert mds.status_code == 405
    assert mds.headers["allow"] == "GET, OPTIONS, POST, PUT"
    assert mds.json()["error"] == "method_not_allowed"
    assert (await client.options("/healthz")).headers["allow"] == "GET, OPTIONS"
    assert (await client.options("/no/such/path")).status_code == 404
