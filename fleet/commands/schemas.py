"""API shapes of commands."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.core.bounded import SafeText
from fleet.commands.states import Ack, CommandState

DEFAULT_TTL_S = 300
MAX_TTL_S = 86_400
# A gateway waits at most this long in one long poll; proxies often cut idle requests at 60 s.
MAX_WAIT_S = 55

ClientCommandId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
]


class CommandKind(StrEnum):
    """What a vehicle can be told to do."""

    LOCK = "lock"
    UNLOCK = "unlock"
    RING = "ring"
    SET_MAX_SPEED = "set_max_speed"
    OPEN_BATTERY = "open_battery"
    REBOOT = "reboot"
    # A pod's next stops; only the dispatcher sends it (see fleet.dispatch).
    SET_ROUTE = "set_route"


class SpeedParams(BaseModel):
    """Parameters of `set_max_speed`."""

    model_config = ConfigDict(extra="forbid")

    max_speed_kph: int = Field(ge=1, le=100, description="The vehicle's new top speed, km/h.")


class CommandCreate(BaseModel):
    """A command to send; `command_id` makes retries safe (same id, same body: same command)."""

    model_config = ConfigDict(extra="forbid")

    kind: CommandKind
    params: SpeedParams | None = Field(
        default=None, description="Only for set_max_speed, and required there."
    )
    command_id: ClientCommandId | None = Field(
        default=None, description="The caller's idempotency key, unique per provider."
    )
    expires_in_s: int = Field(
        default=DEFAULT_TTL_S,
        ge=10,
        le=MAX_TTL_S,
        description="Seconds the command may take to be delivered and finished.",
    )

    @model_validator(mode="after")
    def _params_fit_kind(self) -> Self:
        if self.kind == CommandKind.SET_ROUTE:
            raise ValueError("set_route is sent by the dispatcher, not by hand")
        if self.kind == CommandKind.SET_MAX_SPEED and self.params is None:
            raise ValueError("set_max_speed needs params.max_speed_kph")
        if self.kind != CommandKind.SET_MAX_SPEED and self.params is not None:
            raise ValueError(f"{self.kind} takes no params")
        return self

    def params_dict(self) -> dict[str, Any]:
        """The parameters as stored."""
        return self.params.model_dump() if self.params else {}


class CommandAck(BaseModel):
    """A gateway's answer about a command."""

    model_config = ConfigDict(extra="forbid")

    status: Ack
    message: SafeText | None = None


class MqttAck(CommandAck):
    """An ack as a gateway publishes it on `fleetbed/{provider_id}/{device_id}/acks`."""

    command_id: uuid.UUID


class CommandChangeRead(BaseModel):
    """One change of state."""

    at: datetime
    actor: str
    from_state: CommandState | None
    to_state: CommandState
    message: str | None


class CommandRead(BaseModel):
    """A command, its state and its history."""

    command_id: uuid.UUID
    client_command_id: str | None
    provider_id: uuid.UUID
    device_id: uuid.UUID
    kind: CommandKind
    params: dict[str, Any]
    state: CommandState
    issued_by: str
    created_at: datetime
    expires_at: datetime
    delivered_at: datetime | None
    attempts: int
    message: str | None
    history: list[CommandChangeRead]


class GatewayCommand(BaseModel):
    """A command as a gateway receives it (HTTP long poll and MQTT alike)."""

    command_id: uuid.UUID
    provider_id: uuid.UUID
    device_id: uuid.UUID
    kind: CommandKind
    params: dict[str, Any]
    expires_at: datetime
    attempt: int
