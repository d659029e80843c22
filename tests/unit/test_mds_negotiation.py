"""MDS version negotiation (pure)."""

import pytest

from app.mds_media import UnsupportedVersion, negotiate


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "",
        "*/*",
        "application/json",
        "application/vnd.mds+json;version=2.0",
        'application/vnd.mds+json; version="2.0"',
        "APPLICATION/VND.MDS+JSON;VERSION=2.0",
        "text/html, application/vnd.mds+json;version=2.0;q=0.9",
    ],
)
def test_answers_in_2_0(accept: str | None) -> None:
    assert negotiate(accept) == "2.0"


@pytest.mark.parametrize(
    "accept",
    [
        "application/vnd.mds+json;version=1.2",
        "application/vnd.mds+json;version=2.1",
        "application/vnd.mds+json;version=2.0.2",
        "application/vnd.mds+json",
    ],
)
def test_refuses_other_versions(accept: str) -> None:
    with pytest.raises(UnsupportedVersion):
        negotiate(accept)
