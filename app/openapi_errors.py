"""The error responses of each operation, for the OpenAPI document (pure).

What an operation can answer follows from facts about it (authenticated, scope-checked,
touches the database, negotiates the MDS version, takes parameters, a body, a path id),
plus a few statuses only a service knows of, listed by operation id below. Paths under
`/mds/` answer with MDS error bodies; everything else with RFC 9457 problem details.
"""

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from app.errors import PROBLEM_CONTENT_TYPE
from app.mds_media import MDS_CONTENT_TYPE

SCHEMAS = "#/components/schemas/"

# Statuses that follow from what a service does, not from the route's shape.
EXTRA_STATUSES: dict[str, frozenset[int]] = {
    # client credentials: unsupported grant, bad key, key lookup in the database.
    "issue_token": frozenset({400, 401, 503}),
    "mds_agency_register_vehicles": frozenset({409}),
    # Unregistered devices in a batch.
    "mds_agency_update_vehicles": frozenset({404}),
    "mds_agency_post_telemetry": frozenset({404}),
    "mds_agency_post_events": frozenset({404}),
    "mds_agency_post_trips": frozenset({404}),
    # An hour that is not over yet.
    "mds_provider_trips": frozenset({404}),
    "mds_provider_events_historical": frozenset({404}),
    "mds_provider_telemetry": frozenset({404}),
    "v1_compliance": frozenset({404}),
    # An unknown provider filter.
    "v1_export_trips": frozenset({404}),
    "v1_export_events": frozenset({404}),
    "v1_export_vehicle_status": frozenset({404}),
    "v1_publish_policy": frozenset({409}),
    # Illegal transitions name the allowed ones; a vehicle's second active task of a kind.
    "v1_create_task": frozenset({404, 409}),
    "v1_update_task": frozenset({409}),
    "v1_claim_task": frozenset({409}),
    "v1_start_task": frozenset({409}),
    "v1_complete_task": frozenset({409}),
    "v1_release_task": frozenset({409}),
    "v1_assign_task": frozenset({409}),
    "v1_cancel_task": frozenset({409}),
    # A command_id used for another command; an ack that contradicts the state.
    "v1_send_command": frozenset({409}),
    "v1_gateway_ack_command": frozenset({409}),
    # Another operator's provider_id; a plan not ready, or vehicles with an active task.
    "v1_demand_forecast": frozenset({404}),
    "v1_rebalancing_targets": frozenset({404}),
    "v1_dispatch_rebalancing_plan": frozenset({409}),
    # No pod can serve the request (with the reason); a request_id used for another;
    # a state the request cannot leave.
    "v1_create_dispatch_request": frozenset({409}),
    "v1_cancel_dispatch_request": frozenset({409}),
    "v1_record_dispatch_outcome": frozenset({409}),
}

DESCRIPTIONS: dict[int, str] = {
    400: "Malformed or invalid request.",
    401: "Credentials missing, malformed, unknown, expired or revoked.",
    403: "The credentials lack the right for this operation.",
    404: "Not found, or not the caller's.",
    406: "The Accept header asks for an MDS version this server does not speak.",
    409: "The request contradicts the current state.",
    413: "The body, or the number of items in it, is over the limit.",
    415: "The body is not JSON (application/json or the MDS media type).",
    422: "A parameter or the body is not valid.",
    503: "The database is unreachable; retry after the time given.",
}


@dataclass(frozen=True)
class OperationFacts:
    """What the shape of an operation says about the errors it can give."""

    operation_id: str
    mds: bool
    authenticated: bool
    scope_checked: bool
    database: bool
    negotiates: bool
    has_parameters: bool
    has_body: bool
    has_path_id: bool
    batch: bool


def error_statuses(facts: OperationFacts) -> set[int]:
    """Every error status the operation can answer."""
    statuses = set(EXTRA_STATUSES.get(facts.operation_id, ()))
    rules = {
        # Outside MDS a body that is not JSON at all is a 400, an invalid one a 422.
        400: facts.has_body or (facts.mds and facts.has_parameters),
        401: facts.authenticated,
        403: facts.scope_checked,
        404: facts.has_path_id,
        406: facts.negotiates,
        413: facts.has_body,
        415: facts.mds and facts.has_body,
        422: not facts.mds and (facts.has_parameters or facts.has_body),
        503: facts.database,
    }
    statuses.update(status for status, applies in rules.items() if applies)
    return statuses


def _ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMAS + name}


def _headers(status: int) -> dict[str, Any]:
    if status == 401:
        return {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}}
    if status == 503:
        return {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
    return {}


def error_response(status: int, facts: OperationFacts) -> dict[str, Any]:
    """The documented response for one error status of an operation."""
    if facts.mds:
        schema: dict[str, Any] = _ref("MdsError")
        if facts.batch and status in {400, 404, 409}:
            schema = {"anyOf": [_ref("MdsBulkFailure"), _ref("MdsError")]}
        content = {MDS_CONTENT_TYPE: {"schema": schema}}
    else:
        content = {PROBLEM_CONTENT_TYPE: {"schema": _ref("Problem")}}
    response: dict[str, Any] = {
        "description": DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
        "content": content,
    }
    headers = _headers(status)
    if headers:
        response["headers"] = headers
    return response


def error_responses(facts: OperationFacts) -> dict[str, dict[str, Any]]:
    """Every error response of the operation, keyed by status."""
    return {str(s): error_response(s, facts) for s in sorted(error_statuses(facts))}


_FAILURE: dict[str, Any] = {
    "type": "object",
    "required": ["item", "error", "error_description", "error_details"],
    "properties": {
        "item": {"description": "The item as sent."},
        "error": {"type": "string"},
        "error_description": {"type": "string"},
        "error_details": {"type": "array", "items": {"type": "string"}},
    },
}

ERROR_COMPONENTS: dict[str, dict[str, Any]] = {
    "MdsError": {
        "type": "object",
        "description": "MDS error message.",
        "required": ["error", "error_description", "error_details"],
        "properties": {
            "error": {"type": "string", "examples": ["bad_param", "unauthorized"]},
            "error_description": {"type": "string"},
            "error_details": {"type": "array", "items": {"type": "string"}},
        },
    },
    "MdsBulkFailure": {
        "type": "object",
        "description": "MDS bulk response of a rejected batch: nothing of it was applied.",
        "required": ["success", "total", "failures"],
        "properties": {
            "success": {"type": "integer", "minimum": 0},
            "total": {"type": "integer", "minimum": 0},
            "failures": {"type": "array", "items": _ref("MdsFailureDetails")},
        },
    },
    "MdsFailureDetails": _FAILURE,
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details.",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "errors": {
                "type": "array",
                "description": "Each invalid field, on 422.",
                "items": {
                    "type": "object",
                    "required": ["field", "message"],
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
            "error": {"type": "string", "description": "RFC 6749 error code (token endpoint)."},
        },
    },
}
