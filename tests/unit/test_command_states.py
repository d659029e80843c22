"""The command state machine: every ack from every state, repeats and late acks, expiry,
and who may command a vehicle."""

from datetime import UTC, datetime, timedelta

import pytest

from app.core.auth import Role
from fleet.commands.permissions import may_command
from fleet.commands.states import (
    FINAL,
    Ack,
    AckOutcome,
    CommandState,
    IllegalAck,
    after_ack,
    is_expired,
)

S = CommandState
# Every (state, ack) and what it leads to: a new state, unchanged (repeat/late), or illegal.
TABLE: dict[tuple[CommandState, Ack], AckOutcome | None] = {
    **{(S.PENDING, a): AckOutcome(S(a.value), True) for a in Ack},
    **{(S.DELIVERED, a): AckOutcome(S(a.value), True) for a in Ack},
    (S.ACCEPTED, Ack.ACCEPTED): AckOutcome(S.ACCEPTED, False),
    (S.ACCEPTED, Ack.REJECTED): None,
    (S.ACCEPTED, Ack.DONE): AckOutcome(S.DONE, True),
    (S.ACCEPTED, Ack.FAILED): AckOutcome(S.FAILED, True),
    (S.REJECTED, Ack.ACCEPTED): None,
    (S.REJECTED, Ack.REJECTED): AckOutcome(S.REJECTED, False),
    (S.REJECTED, Ack.DONE): None,
    (S.REJECTED, Ack.FAILED): None,
    (S.DONE, Ack.ACCEPTED): AckOutcome(S.DONE, False),
    (S.DONE, Ack.REJECTED): None,
    (S.DONE, Ack.DONE): AckOutcome(S.DONE, False),
    (S.DONE, Ack.FAILED): None,
    (S.FAILED, Ack.ACCEPTED): AckOutcome(S.FAILED, False),
    (S.FAILED, Ack.REJECTED): None,
    (S.FAILED, Ack.DONE): None,
    (S.FAILED, Ack.FAILED): AckOutcome(S.FAILED, False),
    **{(S.EXPIRED, a): None for a in Ack},
}


def test_the_table_covers_every_state_and_ack() -> None:
    assert set(TABLE) == {(s, a) for s in CommandState for a in Ack}


@pytest.mark.parametrize(("state", "ack"), sorted(TABLE))
def test_ack_outcome(state: CommandState, ack: Ack) -> None:
    expected = TABLE[(state, ack)]
    if expected is None:
        with pytest.raises(IllegalAck) as raised:
            after_ack(state, ack)
        assert ack not in raised.value.allowed
        assert str(state) in str(raised.value)
    else:
        assert after_ack(state, ack) == expected


def test_an_illegal_ack_names_the_allowed_ones() -> None:
    with pytest.raises(IllegalAck, match="allowed: done, failed"):
        after_ack(S.ACCEPTED, Ack.REJECTED)
    with pytest.raises(IllegalAck, match="allowed: none"):
        after_ack(S.EXPIRED, Ack.DONE)


NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)


@pytest.mark.parametrize("state", list(CommandState))
def test_only_unfinished_commands_expire_and_only_at_their_expiry(state: CommandState) -> None:
    assert not is_expired(state, NOW + timedelta(seconds=1), NOW)
    assert is_expired(state, NOW, NOW) is (state not in FINAL)
    assert is_expired(state, NOW - timedelta(seconds=1), NOW) is (state not in FINAL)


@pytest.mark.parametrize("role", list(Role))
def test_managers_command_and_agents_only_with_a_task(role: Role) -> None:
    assert may_command(role, holds_task=False) is (role == Role.OPERATOR_MANAGER)
    assert may_command(role, holds_task=True) is (role in {Role.OPERATOR_MANAGER, Role.FIELD_AGENT})
