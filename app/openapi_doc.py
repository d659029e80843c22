"""The OpenAPI document: generated from the app, committed under `openapi/`."""

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from fleet.vehicles.mds_schema import openapi_components

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with the hand-parsed request bodies' schemas added."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        schema.setdefault("components", {}).setdefault("schemas", {}).update(openapi_components())
        app.openapi_schema = schema
    return app.openapi_schema


def render_openapi(app: FastAPI) -> str:
    """Stable text of the document: sorted keys, two-space indent, final newline."""
    return json.dumps(build_openapi(app), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
