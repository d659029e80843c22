"""The task state machine (pure): which action leads where, and who may take it."""

from enum import StrEnum


class TaskState(StrEnum):
    """Where a task is in its life."""

    OPEN = "open"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Action(StrEnum):
    """What can happen to a task."""

    CLAIM = "claim"
    ASSIGN = "assign"
    START = "start"
    COMPLETE = "complete"
    RELEASE = "release"
    CANCEL = "cancel"
    EXPIRE = "expire"
    RESOLVE = "resolve"


class Actor(StrEnum):
    """Who acts: the agent holding (or claiming) the task, a manager, or fleetbed itself."""

    AGENT = "agent"
    MANAGER = "manager"
    SYSTEM = "system"


ACTIVE = frozenset({TaskState.OPEN, TaskState.ASSIGNED, TaskState.IN_PROGRESS})

# action -> (states it may start from, state it leads to)
TRANSITIONS: dict[Action, tuple[frozenset[TaskState], TaskState]] = {
    Action.CLAIM: (frozenset({TaskState.OPEN}), TaskState.ASSIGNED),
    Action.ASSIGN: (frozenset({TaskState.OPEN, TaskState.ASSIGNED}), TaskState.ASSIGNED),
    Action.START: (frozenset({TaskState.ASSIGNED}), TaskState.IN_PROGRESS),
    Action.COMPLETE: (frozenset({TaskState.IN_PROGRESS}), TaskState.DONE),
    Action.RELEASE: (frozenset({TaskState.ASSIGNED, TaskState.IN_PROGRESS}), TaskState.OPEN),
    Action.CANCEL: (ACTIVE, TaskState.CANCELLED),
    Action.EXPIRE: (frozenset({TaskState.OPEN, TaskState.ASSIGNED}), TaskState.EXPIRED),
    # The data shows the problem gone: fleetbed closes the task whatever its progress.
    Action.RESOLVE: (ACTIVE, TaskState.DONE),
}

MAY_TAKE: dict[Actor, frozenset[Action]] = {
    Actor.AGENT: frozenset({Action.CLAIM, Action.START, Action.COMPLETE, Action.RELEASE}),
    Actor.MANAGER: frozenset(
        {Action.CLAIM, Action.ASSIGN, Action.START, Action.COMPLETE, Action.RELEASE, Action.CANCEL}
    ),
    Actor.SYSTEM: frozenset({Action.EXPIRE, Action.RESOLVE}),
}


def allowed_actions(state: TaskState, actor: Actor) -> list[Action]:
    """The actions `actor` may take on a task in `state`, in a stable order."""
    return [
        action
        for action, (sources, _) in TRANSITIONS.items()
        if state in sources and action in MAY_TAKE[actor]
    ]


def target_of(action: Action) -> TaskState:
    """The state `action` leads to."""
    return TRANSITIONS[action][1]


def sources_of(action: Action) -> frozenset[TaskState]:
    """The states `action` may start from."""
    return TRANSITIONS[action][0]


def may(actor: Actor, action: Action, state: TaskState) -> bool:
    """Whether `actor` may take `action` on a task in `state`."""
    return action in MAY_TAKE[actor] and state in sources_of(action)
