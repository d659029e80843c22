"""Steps every Agency ingest pipeline shares."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from app.core.errors import (
    BulkFailure,
    BulkRejected,
    BulkUnregistered,
    InvalidInput,
    PayloadTooLarge,
)
from app.core.mds_batch import (
    BatchLimits,
    BatchSchema,
    NotAnArray,
    TooDeep,
    TooMany,
    parse_batch,
)
from fleet.vehicles.directory import DeviceInfo

T = TypeVar("T", bound=Mapping[str, Any])


@dataclass(frozen=True)
class PostedBatch:
    """An Agency POST as the ingest pipelines take it: the raw body, not yet decoded, and
    the limits it is checked against (the clock, the future skew, the batch size)."""

    body: bytes
    limits: BatchLimits


def parse_or_reject(batch: PostedBatch, schema: BatchSchema[T]) -> list[T]:
    """The valid items of a batch; any bad item rejects the whole batch."""
    try:
        parsed = parse_batch(batch.body, schema, batch.limits)
    except (NotAnArray, TooDeep) as exc:
        raise InvalidInput(str(exc), fields=("body",)) from exc
    except TooMany as exc:
        raise PayloadTooLarge(str(exc)) from exc
    if parsed.failures:
        raise BulkRejected(parsed.total, parsed.failures)
    return parsed.items


def reject_unregistered(items: Sequence[T], infos: Mapping[str, DeviceInfo]) -> None:
    """Reject the batch when any item names a device missing from the provider's `infos`."""
    failures = [
        BulkFailure(dict(item), "unregistered", "This device_id is unregistered", ["device_id"])
        for item in items
        if item["device_id"] not in infos
    ]
    if failures:
        raise BulkUnregistered(len(items), failures)


def newest_per_device(items: Sequence[T], *, later_wins_ties: bool) -> dict[str, T]:
    """Each device's item with the greatest timestamp."""
    newest: dict[str, T] = {}
    for item in items:
        seen = newest.get(item["device_id"])
        if (
            seen is None
            or item["timestamp"] > seen["timestamp"]
            or (later_wins_ties and item["timestamp"] == seen["timestamp"])
        ):
            newest[item["device_id"]] = item
    return newest
