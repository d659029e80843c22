"""Validate fleetbed's output against the official MDS 2.0 schemas in `../shared/specs`.

The official `vehicle.yaml` / `event.yaml` pick a mode with `oneOf`, which fails for
payloads that fit several modes, so the mode is pinned here (see DESIGN.md §8).
"""

import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def specs_dir() -> Path:
    """Where the standards live: FLEETBED_SPECS_DIR, else ../shared/specs."""
    return Path(os.environ.get("FLEETBED_SPECS_DIR", PROJECT_ROOT.parent / "shared" / "specs"))


def mds_dir() -> Path:
    """The MDS 2.0 schema folder, or skip the test when this clone has none."""
    path = specs_dir() / "mds-2.0"
    if not (path / "models").is_dir():
        pytest.skip(f"MDS 2.0 schemas not found at {path}; set FLEETBED_SPECS_DIR to validate")
    return path


@cache
def _load(path: str) -> Any:
    return yaml.safe_load(Path(path).read_text())


def _pinned(document: Any, path: Path, mode: str) -> Any:
    """Replace the `oneOf` over modes in vehicle, event and trip models by the one mode."""
    if path.parent.name != "models" or path.name not in {"vehicle.yaml", "event.yaml", "trip.yaml"}:
        return document
    pinned = dict(document)
    pinned["allOf"] = [
        part if "oneOf" not in part else {"$ref": f"./modes/{mode}/{path.name}"}
        for part in document["allOf"]
    ]
    return pinned


def registry(mode: str) -> Registry:
    """A registry resolving file URIs of the specs, with modes pinned to `mode`."""

    def retrieve(uri: str) -> Resource:
        path = Path(uri.removeprefix("file://"))
        return Resource.from_contents(_pinned(_load(str(path)), path, mode), DRAFT202012)

    return Registry(retrieve=retrieve)  # type: ignore[call-arg]


def model_validator(model: str, mode: str = "micromobility") -> Draft202012Validator:
    """Validator for a model file, e.g. `models/vehicle.yaml`."""
    path = mds_dir() / model
    return Draft202012Validator({"$ref": path.as_uri()}, registry=registry(mode))


def response_validator(
    api: str, route: str, method: str, status: int, mode: str = "micromobility"
) -> Draft202012Validator:
    """Validator for a response body of an MDS reference API, e.g. ('agency', '/vehicles')."""
    path = mds_dir() / "reference" / f"{api}.yaml"
    pointer = "/".join(
        [
            "#/paths",
            route.replace("~", "~0").replace("/", "~1"),
            method,
            "responses",
            str(status),
            "content",
            "application~1json",
            "schema",
        ]
    )
    return Draft202012Validator({"$ref": path.as_uri() + pointer}, registry=registry(mode))


def assert_valid(validator: Draft202012Validator, instance: Any) -> None:
    """Fail with every schema error listed."""
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
