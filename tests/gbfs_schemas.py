"""Validate fleetbed's GBFS files against the official GBFS 3.0 schemas in `../shared/specs`."""

import json
from functools import cache
from typing import Any

import pytest
from jsonschema import Draft7Validator

from tests.mds_schemas import specs_dir


@cache
def _validator(name: str) -> Draft7Validator:
    path = specs_dir() / "gbfs-3.0" / f"{name}.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


def assert_gbfs_valid(name: str, document: Any) -> None:
    """`document` is a valid GBFS 3.0 `name`.json (formats such as date-time checked);
    the test is skipped when this clone has no specs."""
    folder = specs_dir() / "gbfs-3.0"
    if not (folder / "gbfs.json").is_file():
        pytest.skip(f"GBFS 3.0 schemas not found at {folder}; set FLEETBED_SPECS_DIR to validate")
    errors = sorted(_validator(name).iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
