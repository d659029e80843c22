"""Validation of MDS bulk bodies: one pydantic-core pass on the fast path, item by item
only when something fails, so that every bad item is reported with all its bad fields.

Before any of it, one scan of the bytes (`json_shape`) counts the items and measures the
nesting, so that a body of many tiny items is refused before it is decoded or validated.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
from pydantic import TypeAdapter, ValidationError

from app.core.bounded import json_problem
from app.core.errors import BulkFailure
from app.core.json_shape import DEFAULT_MAX_DEPTH, json_shape
from app.core.mds_types import failures_from_error, failures_from_errors, unknown_fields

T = TypeVar("T")


class NotAnArray(ValueError):
    """The body is not a non-empty JSON array."""


class TooMany(ValueError):
    """The batch holds more items than allowed."""


class TooDeep(ValueError):
    """The body nests arrays and objects deeper than allowed."""


@dataclass(frozen=True)
class BatchLimits:
    """Context a validator needs: the clock, the future skew allowed, the batch limits."""

    now_ms: int
    max_future_ms: int
    max_items: int
    max_depth: int = DEFAULT_MAX_DEPTH

    @property
    def latest_ms(self) -> int:
        """The newest timestamp accepted."""
        return self.now_ms + self.max_future_ms


@dataclass(frozen=True)
class ParsedBatch(Generic[T]):
    """A validated batch: the items when nothing failed, else the failures."""

    total: int
    items: list[T]
    failures: list[BulkFailure]


@dataclass(frozen=True)
class Problem:
    """A field that a context check found wrong, or missing."""

    field: str
    message: str
    missing: bool = False


@dataclass(frozen=True)
class BatchSchema(Generic[T]):
    """How to validate one kind of MDS item, alone and as a whole array."""

    item: TypeAdapter[T]
    array: TypeAdapter[list[T]]
    # Checks that need context (clock, provider, mode).
    context: Callable[[T, BatchLimits], list[Problem]]
    # A field no two items of one batch may share.
    unique_key: str | None = None


def common_problems(item: Any, provider_id: str, limits: BatchLimits) -> list[Problem]:
    """Checks every provider-pushed MDS item needs: whose it is, and not from the future."""
    problems = []
    if item["provider_id"] != provider_id:
        problems.append(Problem("provider_id", "provider_id is not the authenticated provider's"))
    if item["timestamp"] > limits.latest_ms:
        problems.append(Problem("timestamp", "timestamp lies further ahead than the allowed skew"))
    return problems


def unknown_field_problems(
    item: Mapping[str, Any], known: frozenset[str], path: str = ""
) -> list[Problem]:
    """Unknown fields are stored as given, so each must be JSON that JSONB and orjson hold."""
    problems = []
    for key, value in unknown_fields(item, known).items():
        name = f"{path}{key}"
        found = "field names must not contain NUL" if "\x00" in key else json_problem(value, name)
        if found:
            problems.append(Problem(name, found))
    return problems


def check_shape(body: bytes, max_items: int, max_depth: int) -> None:
    """Refuse a bulk body too deep or with too many items, before anything decodes it."""
    shape = json_shape(body)
    if shape.depth > max_depth:
        raise TooDeep(f"body nests {shape.depth} levels deep; at most {max_depth}")
    if shape.top_items is not None and shape.top_items > max_items:
        raise TooMany(f"{shape.top_items} items sent; at most {max_items} per request")


def decode_array(body: bytes) -> list[Any]:
    """The body decoded, which must be a non-empty JSON array."""
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise NotAnArray(f"body is not valid JSON: {exc}") from exc
    return non_empty(decoded)


def non_empty(decoded: Any) -> list[Any]:
    """A decoded body that must be a non-empty array."""
    if not isinstance(decoded, list) or not decoded:
        raise NotAnArray("body must be a non-empty JSON array")
    return decoded


def context_failures(item: Any, problems: list[Problem]) -> list[BulkFailure]:
    """Failures for the problems a context check found: missing and bad fields apart."""
    if not problems:
        # The common case, once per item of every valid batch: keep it cheap.
        return []
    failures = []
    for missing, error, lead in (
        (True, "missing_param", "A required parameter is missing: "),
        (False, "bad_param", "A validation error occurred: "),
    ):
        found = [p for p in problems if p.missing is missing]
        if found:
            description = lead + "; ".join(p.message for p in found)
            failures.append(BulkFailure(dict(item), error, description, [p.field for p in found]))
    return failures


def parse_batch(body: bytes, schema: BatchSchema[T], limits: BatchLimits) -> ParsedBatch[T]:
    """Validate a bulk body; items are returned only if none fails."""
    check_shape(body, limits.max_items, limits.max_depth)
    try:
        items = schema.array.validate_json(body)
    except ValidationError as error:
        raw = decode_array(body)
        failures: list[BulkFailure] = []
        for entry in raw:
            try:
                item = schema.item.validate_python(entry)
            except ValidationError as exc:
                failures.extend(failures_from_error(entry, exc))
            else:
                failures.extend(context_failures(entry, schema.context(item, limits)))
        return ParsedBatch(len(raw), [], failures or _array_failures(raw, error))
    non_empty(items)
    problems = [schema.context(item, limits) for item in items]
    failures = []
    if any(problems):
        # Failures echo each item as sent: a validated item may keep, in a field MDS leaves
        # open, a value the response encoder refuses (an integer beyond 64 bits).
        raw = decode_array(body)
        failures = [
            f
            for entry, found in zip(raw, problems, strict=True)
            for f in context_failures(entry, found)
        ]
    failures += _repeats(items, schema.unique_key)
    return ParsedBatch(len(items), [] if failures else items, failures)


def _array_failures(raw: list[Any], error: ValidationError) -> list[BulkFailure]:
    # orjson decodes integers beyond 64 bits as floats, so an item the whole-body pass
    # refused may pass alone: then the whole-body pass's errors are the failures.
    by_item: dict[int, list[Any]] = {}
    for detail in error.errors(include_url=False):
        index, *rest = detail["loc"] or (0,)
        by_item.setdefault(int(index), []).append({**detail, "loc": tuple(rest)})
    return [
        f for index, errors in by_item.items() for f in failures_from_errors(raw[index], errors)
    ]


def _repeats(items: list[T], key: str | None) -> list[BulkFailure]:
    if key is None:
        return []
    seen: set[Any] = set()
    failures = []
    for item in items:
        value = item[key]  # type: ignore[index]
        if value in seen:
            problem = Problem(key, f"{key} appears more than once in this batch")
            failures += context_failures(item, [problem])
        seen.add(value)
    return failures
