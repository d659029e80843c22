"""API key format and access tokens (pure)."""

import uuid
from datetime import UTC, datetime, timedelta

from app.auth.tokens import TokenClaims, TokenConfig, issue_token, read_token
from fleet.tenancy.keys import hash_secret, new_key, parse_key, secret_matches

CONFIG = TokenConfig(
    secret="k" * 40, issuer="fleetbed", audience="fleetbed", ttl=timedelta(minutes=10)
)
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_new_keys_parse_back_and_are_unique() -> None:
    first, printable = new_key()
    second, _ = new_key()
    assert parse_key(printable) == first
    assert first.key_id != second.key_id
    assert first.secret != second.secret


def test_parse_key_rejects_other_shapes() -> None:
    _, printable = new_key()
    for raw in (
        "",
        "fbk_",
        printable.upper(),
        printable[:-1],
        printable + "=",
        "Bearer " + printable,
    ):
        assert parse_key(raw) is None


def test_secret_matching_uses_the_hash() -> None:
    parsed, _ = new_key()
    stored = hash_secret(parsed.secret)
    assert secret_matches(parsed.secret, stored)
    assert not secret_matches(parsed.secret + "x", stored)


def test_token_round_trip_and_expiry() -> None:
    claims = TokenClaims("abc", "gateway", frozenset({"vehicles:read"}), uuid.uuid4())
    token = issue_token(claims, CONFIG, now=NOW)
    assert read_token(token, CONFIG, now=NOW + timedelta(minutes=9)) == claims
    assert read_token(token, CONFIG, now=NOW + timedelta(minutes=10)) is None


def test_token_for_a_citywide_role_has_no_provider() -> None:
    claims = TokenClaims("abc", "city_auditor", frozenset({"audit:read"}), None)
    assert read_token(issue_token(claims, CONFIG, now=NOW), CONFIG, now=NOW) == claims


def test_token_with_wrong_key_audience_or_issuer_is_refused() -> None:
    claims = TokenClaims("abc", "gateway", frozenset(), None)
    token = issue_token(claims, CONFIG, now=NOW)
    for other in (
        TokenConfig("z" * 40, "fleetbed", "fleetbed", CONFIG.ttl),
        TokenConfig(CONFIG.secret, "someone-else", "fleetbed", CONFIG.ttl),
        TokenConfig(CONFIG.secret, "fleetbed", "another-api", CONFIG.ttl),
    ):
        assert read_token(token, other, now=NOW) is None
    assert read_token("not.a.jwt", CONFIG, now=NOW) is None
