"""The visibility rule: city-wide roles see every provider, operators only their own."""

import uuid

import pytest

from app.core.auth import CITYWIDE_ROLES, ROLE_SCOPES, Mode, Principal, Role
from app.visibility import hides_trips, live_scope, providers_for, sees_every_provider

OWN, OTHER = uuid.uuid4(), uuid.uuid4()
OPERATOR_ROLES = [r for r in Role if r not in CITYWIDE_ROLES]


def _principal(role: Role, provider_id: uuid.UUID | None) -> Principal:
    return Principal("k", role, ROLE_SCOPES[role], provider_id, Mode.MICROMOBILITY)


@pytest.mark.parametrize("role", sorted(CITYWIDE_ROLES))
def test_city_wide_roles_see_all_or_the_provider_asked_for(role: Role) -> None:
    city = _principal(role, None)
    assert sees_every_provider(city)
    assert providers_for(city, None) is None
    assert providers_for(city, OTHER) == [OTHER]


@pytest.mark.parametrize("role", OPERATOR_ROLES)
def test_operators_see_their_own_provider_only(role: Role) -> None:
    operator = _principal(role, OWN)
    assert not sees_every_provider(operator)
    assert providers_for(operator, None) == [OWN]
    assert providers_for(operator, OWN) == [OWN]
    # Another operator's data is nothing at all, which reads as not found.
    assert providers_for(operator, OTHER) == []


@pytest.mark.parametrize("role", OPERATOR_ROLES)
def test_an_operator_role_without_a_provider_sees_nothing(role: Role) -> None:
    assert providers_for(_principal(role, None), None) == []
    assert providers_for(_principal(role, None), OTHER) == []


def test_only_admins_of_the_city_see_vehicles_on_a_trip() -> None:
    hiding = {r for r in Role if hides_trips(_principal(r, None if r in CITYWIDE_ROLES else OWN))}
    assert hiding == {Role.CITY_AUDITOR, Role.CITY_PLANNER}


@pytest.mark.parametrize(
    ("role", "provider", "wanted", "expected", "hidden"),
    [
        (Role.CITY_AUDITOR, None, None, None, True),
        (Role.ADMIN, None, OTHER, (OTHER,), False),
        (Role.FIELD_AGENT, OWN, None, (OWN,), False),
        (Role.OPERATOR_MANAGER, OWN, OTHER, (), False),
    ],
)
def test_the_live_scope_is_the_same_rule(
    role: Role,
    provider: uuid.UUID | None,
    wanted: uuid.UUID | None,
    expected: tuple[uuid.UUID, ...] | None,
    hidden: bool,
) -> None:
    scope = live_scope(_principal(role, provider), wanted)
    assert scope.provider_ids == expected
    assert scope.hide_on_trip is hidden
