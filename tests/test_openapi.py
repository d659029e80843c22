"""The committed OpenAPI document is the app's."""

from fastapi import FastAPI

from app.openapi_doc import OPENAPI_PATH, render_openapi


def test_committed_openapi_matches_the_app(app: FastAPI) -> None:
    assert OPENAPI_PATH.exists(), "run 'fleetbed openapi' and commit openapi/openapi.json"
    assert OPENAPI_PATH.read_text() == render_openapi(app), (
        "openapi/openapi.json is stale: run 'fleetbed openapi' and commit it"
    )


def test_operation_ids_are_unique_and_explicit(app: FastAPI) -> None:
    schema = app.openapi()
    ids = [op["operationId"] for path in schema["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    assert all("__" not in op_id for op_id in ids), ids
