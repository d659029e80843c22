"""Every Redis key fleetbed uses. The `{provider_id}` hash tag keeps one provider's keys
in one Redis Cluster slot, so a batch script touching them stays cluster-safe."""

import uuid

PREFIX = "fb"
SUPPLY_RESOLUTIONS = (8, 9)
# Redis GEO cannot index latitudes beyond Web Mercator's limit.
GEO_MAX_LAT = 85.05112878


def _tag(provider_id: uuid.UUID | str) -> str:
    return f"{PREFIX}:{{{provider_id}}}"


def vehicle_key(provider_id: uuid.UUID | str, device_id: uuid.UUID | str) -> str:
    """Hash of one vehicle's live state."""
    return f"{_tag(provider_id)}:v:{device_id}"


def vehicle_pattern(provider_id: uuid.UUID | str) -> str:
    """SCAN pattern matching every vehicle hash of a provider."""
    return f"{_tag(provider_id)}:v:*"


def geo_key(provider_id: uuid.UUID | str) -> str:
    """GEO set of a provider's vehicles by last position."""
    return f"{_tag(provider_id)}:geo"


def supply_key(provider_id: uuid.UUID | str, resolution: int) -> str:
    """Hash `<h3 cell>|<vehicle type>` -> number of available vehicles there."""
    return f"{_tag(provider_id)}:supply:r{resolution}"


def track_key(provider_id: uuid.UUID | str, device_id: uuid.UUID | str) -> str:
    """A vehicle's zone tracking state (JSON): sides of boundaries, pending changes, alerts."""
    return f"{_tag(provider_id)}:zt:{device_id}"


# One stream for all providers: workers consume it with consumer groups.
ALERT_STREAM = f"{PREFIX}:alerts"
ALERT_STREAM_MAXLEN = 100_000
# Every change of a field task, for apps and workers.
TASK_STREAM = f"{PREFIX}:tasks"
TASK_STREAM_MAXLEN = 100_000

# Every change of a command's state, for apps that follow commands live.
COMMAND_STREAM = f"{PREFIX}:commands"
COMMAND_STREAM_MAXLEN = 100_000
COMMAND_WAKEUP_MAXLEN = 100


# Wakes what delivers every provider's commands (the MQTT transport).
ALL_COMMANDS_WAKEUP = f"{PREFIX}:cmd:wakeup"


def command_wakeup_key(provider_id: uuid.UUID | str) -> str:
    """Stream that wakes a provider's long-polling gateways when commands are due."""
    return f"{_tag(provider_id)}:cmd:wakeup"


def provider_keys(provider_id: uuid.UUID | str) -> list[str]:
    """The per-provider keys every hot-state script receives first."""
    return [geo_key(provider_id), *(supply_key(provider_id, r) for r in SUPPLY_RESOLUTIONS)]


def intact_key() -> str:
    """Set after a full rebuild; its absence means Redis lost the live state."""
    return f"{PREFIX}:hotstate:intact"
