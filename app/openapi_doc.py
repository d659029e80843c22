"""The OpenAPI document: generated from the app, completed here, committed under `openapi/`.

FastAPI sees neither the hand-parsed MDS batch bodies nor the errors that services and
middleware answer with; `build_openapi` adds them centrally, from the routes' dependencies
and the tables below, so routers stay free of documentation plumbing.
"""

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, get_args

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import TypeAdapter

from app.deps import SessionDep, get_principal, require
from app.mds_media import MDS_CONTENT_TYPE, mds_version
from app.openapi_errors import ERROR_COMPONENTS, SCHEMAS, OperationFacts, error_responses
from app.settings import Settings
from fleet.events.schema import Event
from fleet.trips.schema import Trip
from fleet.vehicles.mds_schema import openapi_components
from telemetry.schema import Telemetry

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"

BEARER = "bearer"
SECURITY_SCHEMES = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key, or an access token from /auth/token.",
    }
}

Limit = Callable[[Settings], int]


def _vehicle_limit(settings: Settings) -> int:
    return settings.api.max_vehicle_batch


def _ingest_limit(settings: Settings) -> int:
    return settings.telemetry.max_batch


# MDS Agency bodies read raw (all or nothing, validated as a batch): item schema and limit.
BATCHES: dict[str, tuple[str, Limit, str]] = {
    "mds_agency_register_vehicles": (
        "MdsVehicle",
        _vehicle_limit,
        "MDS Vehicles; vehicle_attributes and accessibility_attributes follow the mode.",
    ),
    "mds_agency_update_vehicles": ("MdsVehicle", _vehicle_limit, "MDS Vehicles, registered."),
    "mds_agency_post_telemetry": ("Telemetry", _ingest_limit, "MDS Telemetry points."),
    "mds_agency_post_events": ("Event", _ingest_limit, "MDS Events, checked per mode."),
    "mds_agency_post_trips": ("Trip", _ingest_limit, "MDS Trips, checked per mode."),
}

# Parameters optional in the signature because the handler answers their absence itself.
REQUIRED_PARAMETERS: dict[str, tuple[str, ...]] = {
    "mds_provider_trips": ("end_time",),
    "mds_provider_events_historical": ("event_time",),
    "mds_provider_telemetry": ("telemetry_time",),
    "mds_provider_events_recent": ("start_time", "end_time"),
}

# Parameters of which exactly one must be given: OpenAPI cannot say it, so descriptions do.
EXACTLY_ONE_OF: dict[str, tuple[str, ...]] = {"v1_live_vehicles": ("near", "bbox")}

_SESSION = get_args(SessionDep)[1].dependency
_SCOPE_CHECK = require().__code__


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def _has_parameters(operation: dict[str, Any]) -> bool:
    # The Accept header of MDS negotiation is answered with 406, not 400.
    return any(
        not (p["in"] == "header" and p["name"].lower() == "accept")
        for p in operation.get("parameters", [])
    )


def operation_facts(route: RouteContext, path: str, operation: dict[str, Any]) -> OperationFacts:
    """What a route's dependencies and its documented operation say about its errors."""
    calls = list(_calls(route.dependant))
    authenticated = get_principal in calls
    return OperationFacts(
        operation_id=operation["operationId"],
        mds=path.startswith("/mds/"),
        authenticated=authenticated,
        scope_checked=any(getattr(c, "__code__", None) is _SCOPE_CHECK for c in calls),
        database=authenticated or _SESSION in calls,
        negotiates=mds_version in calls,
        has_parameters=_has_parameters(operation),
        has_body="requestBody" in operation,
        has_path_id="{" in path,
        batch=operation["operationId"] in BATCHES,
    )


def _batch_body(component: str, limit: int, description: str) -> dict[str, Any]:
    schema = {
        "type": "array",
        "minItems": 1,
        "maxItems": limit,
        "items": {"$ref": SCHEMAS + component},
        "description": f"{description} All are applied or none.",
    }
    media = {"schema": schema}
    return {"required": True, "content": {"application/json": media, MDS_CONTENT_TYPE: media}}


def _require_parameters(operation: dict[str, Any], names: tuple[str, ...]) -> None:
    for parameter in operation.get("parameters", []):
        if parameter["name"] in names:
            parameter["required"] = True


def _exactly_one_of(operation: dict[str, Any], names: tuple[str, ...]) -> None:
    listed = " and ".join(f"`{n}`" for n in names)
    note = f"Give exactly one of {listed}."
    operation["description"] = f"{operation.get('description', '')}\n\n{note}".strip()
    for parameter in operation.get("parameters", []):
        if parameter["name"] in names:
            parameter["description"] = f"{parameter.get('description', '')} {note}".strip()


def complete_operation(
    route: RouteContext, path: str, operation: dict[str, Any], settings: Settings
) -> None:
    """Add an operation's batch body, required parameters, security and error responses."""
    op_id = operation["operationId"]
    if op_id in BATCHES:
        component, limit, description = BATCHES[op_id]
        operation["requestBody"] = _batch_body(component, limit(settings), description)
    _require_parameters(operation, REQUIRED_PARAMETERS.get(op_id, ()))
    if op_id in EXACTLY_ONE_OF:
        _exactly_one_of(operation, EXACTLY_ONE_OF[op_id])
    facts = operation_facts(route, path, operation)
    if facts.authenticated:
        operation["security"] = [{BEARER: []}]
    responses = operation.setdefault("responses", {})
    # FastAPI's generic 422: MDS answers 400 instead, /v1 with problem details.
    responses.pop("422", None)
    responses.update(error_responses(facts))


def _item_components() -> dict[str, Any]:
    """JSON schemas of the MDS batch items, shared definitions merged by name."""
    components = openapi_components()
    for name, kind in (("Telemetry", Telemetry), ("Event", Event), ("Trip", Trip)):
        schema = TypeAdapter(kind).json_schema(ref_template=SCHEMAS + "{model}")
        for def_name, definition in {**schema.pop("$defs", {}), name: schema}.items():
            if components.setdefault(def_name, definition) != definition:
                raise ValueError(f"two different schemas are named {def_name}")
    return components


def _referenced(document: dict[str, Any]) -> set[str]:
    text = json.dumps(document)
    return {name for name in document["components"]["schemas"] if f'"{SCHEMAS}{name}"' in text}


def _drop_unreferenced(document: dict[str, Any]) -> None:
    # FastAPI's validation error schemas are unused once every 422 is documented here.
    schemas = document["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError"):
        if name in schemas and name not in _referenced(document):
            del schemas[name]


def complete_document(app: FastAPI, document: dict[str, Any], settings: Settings) -> None:
    """Complete FastAPI's document with what it cannot see."""
    components = document.setdefault("components", {})
    components.setdefault("schemas", {}).update({**_item_components(), **ERROR_COMPONENTS})
    components["securitySchemes"] = SECURITY_SCHEMES
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        path = str(route.path_format)
        for method in route.methods or ():
            operation = document["paths"][path].get(method.lower())
            if operation is not None:
                complete_operation(route, path, operation, settings)
    _drop_unreferenced(document)


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, completed with bodies, parameters and errors."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        complete_document(app, schema, app.state.settings)
        app.openapi_schema = schema
    return app.openapi_schema


def render_openapi(app: FastAPI) -> str:
    """Stable text of the document: sorted keys, two-space indent, final newline."""
    return json.dumps(build_openapi(app), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
