"""Which error statuses an operation documents, from the facts about it."""

from dataclasses import replace

from app.errors import PROBLEM_CONTENT_TYPE
from app.mds_media import MDS_CONTENT_TYPE
from app.openapi_errors import OperationFacts, error_response, error_statuses

NOTHING = OperationFacts(
    operation_id="plain",
    mds=False,
    authenticated=False,
    scope_checked=False,
    database=False,
    negotiates=False,
    has_parameters=False,
    has_body=False,
    has_path_id=False,
    batch=False,
)
MDS_BATCH = replace(
    NOTHING,
    operation_id="mds_agency_post_events",
    mds=True,
    authenticated=True,
    scope_checked=True,
    database=True,
    negotiates=True,
    has_body=True,
    batch=True,
)


def test_an_operation_that_touches_nothing_documents_no_error() -> None:
    assert error_statuses(NOTHING) == set()


def test_an_mds_batch_write_documents_every_way_it_can_fail() -> None:
    assert error_statuses(MDS_BATCH) == {400, 401, 403, 404, 406, 413, 415, 503}


def test_v1_answers_422_for_invalid_input_and_mds_never() -> None:
    v1 = replace(NOTHING, has_parameters=True, has_path_id=True, database=True)
    assert error_statuses(v1) == {404, 422, 503}
    assert error_statuses(replace(v1, mds=True)) == {400, 404, 503}


def test_a_v1_body_that_is_not_json_is_a_400_but_never_a_415() -> None:
    assert error_statuses(replace(NOTHING, has_body=True)) == {400, 413, 422}


def test_bodies_follow_the_family_and_batches_may_list_their_failures() -> None:
    batch = error_response(400, MDS_BATCH)["content"][MDS_CONTENT_TYPE]["schema"]
    assert {"$ref": "#/components/schemas/MdsBulkFailure"} in batch["anyOf"]
    version = error_response(406, MDS_BATCH)["content"][MDS_CONTENT_TYPE]["schema"]
    assert version == {"$ref": "#/components/schemas/MdsError"}
    problem = error_response(422, NOTHING)["content"][PROBLEM_CONTENT_TYPE]["schema"]
    assert problem == {"$ref": "#/components/schemas/Problem"}


def test_outages_and_refusals_name_their_headers() -> None:
    assert "Retry-After" in error_response(503, NOTHING)["headers"]
    assert "WWW-Authenticate" in error_response(401, MDS_BATCH)["headers"]
    assert "headers" not in error_response(404, NOTHING)
