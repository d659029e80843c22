"""Who may command a vehicle (pure)."""

from app.core.auth import Role


def may_command(role: Role, *, holds_task: bool) -> bool:
    """Managers command their fleet's vehicles; field agents only a vehicle of a task they
    hold (the caller looks the task up); admins and gateways never (they act for no fleet
    or are the receiving end)."""
    if role == Role.OPERATOR_MANAGER:
        return True
    return role == Role.FIELD_AGENT and holds_task
