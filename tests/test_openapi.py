"""The committed OpenAPI document is the app's, and it says what the app does."""

from fastapi import FastAPI

from app.main import create_app
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
