"""The command state machine (pure): which ack may follow which state, and what expires.

pending -> delivered -> accepted | rejected; accepted -> done | failed; any state not
finished by the expiry -> expired. A gateway may skip `accepted` and report the result at
once, and may ack a command it got before its delivery was recorded (a pending one).
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class CommandState(StrEnum):
    """Where a command is in its life."""

    PENDING = "pending"
    DELIVERED = "delivered"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"


class Ack(StrEnum):
    """What a gateway reports about a command."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DONE = "done"
    FAILED = "failed"


FINAL = frozenset(
    {CommandState.REJECTED, CommandState.DONE, CommandState.FAILED, CommandState.EXPIRED}
)
# States a gateway has not yet answered: they can be handed out (again).
UNANSWERED = frozenset({CommandState.PENDING, CommandState.DELIVERED})

_ALLOWED: dict[CommandState, frozenset[Ack]] = {
    CommandState.PENDING: frozenset(Ack),
    CommandState.DELIVERED: frozenset(Ack),
    CommandState.ACCEPTED: frozenset({Ack.DONE, Ack.FAILED}),
}


@dataclass(frozen=True)
class AckOutcome:
    """The state after an ack; `changed` False for a repeated or superseded ack."""

    state: CommandState
    changed: bool


class IllegalAck(ValueError):
    """An ack that contradicts the command's state."""

    def __init__(self, state: CommandState, ack: Ack) -> None:
        allowed = ", ".join(sorted(allowed_acks(state))) or "none"
        super().__init__(f"a {state} command cannot be acked {ack}; allowed: {allowed}")
        self.allowed = allowed_acks(state)


def allowed_acks(state: CommandState) -> frozenset[Ack]:
    """The acks that move a command on from `state`."""
    return _ALLOWED.get(state, frozenset())


def after_ack(state: CommandState, ack: Ack) -> AckOutcome:
    """The outcome of `ack` on a command in `state`; IllegalAck if it contradicts it.

    At-least-once delivery repeats acks, and networks reorder them: the same ack again,
    or an `accepted` arriving after the result, leaves the command as it is.
    """
    reached = CommandState(ack.value)
    if ack in allowed_acks(state):
        return AckOutcome(reached, changed=True)
    if state == reached or (
        ack == Ack.ACCEPTED and state in {CommandState.DONE, CommandState.FAILED}
    ):
        return AckOutcome(state, changed=False)
    raise IllegalAck(state, ack)


def is_expired(state: CommandState, expires_at: datetime, now: datetime) -> bool:
    """Whether a command that is not finished has passed its expiry."""
    return state not in FINAL and expires_at <= now
