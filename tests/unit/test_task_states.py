"""The task state machine."""

import pytest

from fleet.tasks.states import ACTIVE, Action, Actor, TaskState, allowed_actions, may, target_of

LEGAL = [
    (Action.CLAIM, TaskState.OPEN, TaskState.ASSIGNED),
    (Action.ASSIGN, TaskState.OPEN, TaskState.ASSIGNED),
    (Action.ASSIGN, TaskState.ASSIGNED, TaskState.ASSIGNED),
    (Action.START, TaskState.ASSIGNED, TaskState.IN_PROGRESS),
    (Action.COMPLETE, TaskState.IN_PROGRESS, TaskState.DONE),
    (Action.RELEASE, TaskState.ASSIGNED, TaskState.OPEN),
    (Action.RELEASE, TaskState.IN_PROGRESS, TaskState.OPEN),
    (Action.CANCEL, TaskState.OPEN, TaskState.CANCELLED),
    (Action.CANCEL, TaskState.ASSIGNED, TaskState.CANCELLED),
    (Action.CANCEL, TaskState.IN_PROGRESS, TaskState.CANCELLED),
    (Action.EXPIRE, TaskState.OPEN, TaskState.EXPIRED),
    (Action.EXPIRE, TaskState.ASSIGNED, TaskState.EXPIRED),
    (Action.RESOLVE, TaskState.OPEN, TaskState.DONE),
    (Action.RESOLVE, TaskState.ASSIGNED, TaskState.DONE),
    (Action.RESOLVE, TaskState.IN_PROGRESS, TaskState.DONE),
]
ANYONE = (Actor.AGENT, Actor.MANAGER, Actor.SYSTEM)


@pytest.mark.parametrize(("action", "source", "target"), LEGAL)
def test_each_legal_transition(action: Action, source: TaskState, target: TaskState) -> None:
    assert any(may(actor, action, source) for actor in ANYONE)
    assert target_of(action) is target


def test_every_other_pair_is_illegal_for_everyone() -> None:
    legal = {(a, s) for a, s, _ in LEGAL}
    for action in Action:
        for state in TaskState:
            if (action, state) not in legal:
                assert not any(may(actor, action, state) for actor in ANYONE), (action, state)


def test_closed_tasks_allow_nothing() -> None:
    for state in set(TaskState) - ACTIVE:
        assert all(allowed_actions(state, actor) == [] for actor in ANYONE)


def test_who_may_do_what() -> None:
    assert allowed_actions(TaskState.OPEN, Actor.AGENT) == [Action.CLAIM]
    assert allowed_actions(TaskState.OPEN, Actor.MANAGER) == [
        Action.CLAIM,
        Action.ASSIGN,
        Action.CANCEL,
    ]
    assert allowed_actions(TaskState.ASSIGNED, Actor.AGENT) == [Action.START, Action.RELEASE]
    assert allowed_actions(TaskState.IN_PROGRESS, Actor.SYSTEM) == [Action.RESOLVE]
    assert not may(Actor.AGENT, Action.CANCEL, TaskState.OPEN)
    assert not may(Actor.MANAGER, Action.EXPIRE, TaskState.OPEN)
    assert not may(Actor.SYSTEM, Action.CLAIM, TaskState.OPEN)
    # Work under way is not expired under an agent's hands.
    assert not may(Actor.SYSTEM, Action.EXPIRE, TaskState.IN_PROGRESS)
