"""The demo's keys file: which key each demo role uses, kept private on disk.

`fleetbed demo seed` writes it, `fleetbed simulate` and `fleetbed demo run` read it. The
keys are secrets: the models keep them out of their repr, and the file is written with
mode 0600 (in a 0700 directory when the directory is new).
"""

import os
import uuid
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.core.auth import Mode
from app.core.errors import InvalidInput

DEFAULT_KEYS_PATH = Path(".fleetbed") / "demo-keys.json"


class KeysFileError(InvalidInput):
    """The keys file cannot be read or is not a demo keys file."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OperatorKeys(_Model):
    """One demo operator and its keys; a key absent here is issued by the next seed."""

    provider_id: uuid.UUID
    name: str
    mode: Mode
    gateway_key: str | None = Field(default=None, repr=False)
    manager_key: str | None = Field(default=None, repr=False)
    agent_key: str | None = Field(default=None, repr=False)


class CityKeys(_Model):
    """The keys of the city-wide roles."""

    admin: str | None = Field(default=None, repr=False)
    city_auditor: str | None = Field(default=None, repr=False)
    city_planner: str | None = Field(default=None, repr=False)


class DemoKeys(_Model):
    """The whole file: operators by their key in `demo.city`, and the city's keys."""

    providers: dict[str, OperatorKeys] = Field(default_factory=dict)
    city: CityKeys = Field(default_factory=CityKeys)


def parse_keys(data: Any) -> DemoKeys:
    """The keys in a parsed keys file, or KeysFileError saying what is wrong."""
    try:
        return DemoKeys.model_validate(data)
    except ValidationError as exc:
        # Only the locations: the messages could quote a key.
        where = ", ".join(".".join(str(p) for p in e["loc"]) or "top level" for e in exc.errors())
        raise KeysFileError(f"not a demo keys file: bad or unknown fields at {where}") from None


def read_keys_file(path: Path) -> DemoKeys | None:
    """The keys in `path`, None when there is no such file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeysFileError(f"cannot read the keys file {path}: {exc.strerror}") from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise KeysFileError(
            f"{path} is not JSON; delete it and seed again to issue new keys"
        ) from None
    try:
        return parse_keys(data)
    except KeysFileError as exc:
        raise KeysFileError(f"{path}: {exc.detail}; delete it and seed again") from None


def keys_json(keys: DemoKeys) -> bytes:
    """The file's content, in the shape `fleetbed simulate` reads."""
    return orjson.dumps(
        keys.model_dump(mode="json"), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
    )


def write_keys_file(path: Path, keys: DemoKeys) -> None:
    """Replace `path` atomically with a 0600 file; a missing directory is made 0700."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
        path.parent.chmod(0o700)  # exactly 0700, whatever the umask
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as sink:
            sink.write(keys_json(keys))
            sink.flush()
            os.fsync(sink.fileno())
        os.chmod(partial, 0o600)  # exactly 0600, whatever the umask
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
