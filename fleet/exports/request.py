"""What an export asks for, checked before anything is streamed (pure)."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, TypeAdapter, ValidationError

from app.core.bounded import Rfc3339, within_bounds
from app.core.errors import InvalidInput


class Dataset(StrEnum):
    """What is exported; the value is the URL path segment."""

    TRIPS = "trips"
    EVENTS = "events"
    VEHICLE_STATUS = "vehicle-status"


class Format(StrEnum):
    """Output formats."""

    CSV = "csv"
    GEOJSON = "geojson"
    PARQUET = "parquet"


class Privacy(StrEnum):
    """`raw` as stored (city auditors), `open` anonymised."""

    RAW = "raw"
    OPEN = "open"


@dataclass(frozen=True)
class ExportRequest:
    """One export: the half-open window [start, end) on the dataset's time, the providers
    (None: all), the format and the privacy level."""

    dataset: Dataset
    start: datetime
    end: datetime
    provider_ids: tuple[uuid.UUID, ...] | None
    format: Format
    privacy: Privacy
    provider_filter: uuid.UUID | None = None

    @property
    def action(self) -> str:
        """The audit log's name of this kind of pull."""
        return f"exports.{self.dataset.value}"

    def audit_params(self) -> dict[str, Any]:
        """The parameters (times in UTC), for the audit log."""
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "provider_id": str(self.provider_filter) if self.provider_filter else None,
            "format": self.format.value,
            "privacy": self.privacy.value,
        }


# An RFC 3339 date-time with an offset, from 2018 to 2200, as UTC; no horizon, as an
# export may ask for a window reaching beyond the data.
_EXPORT_TIME: TypeAdapter[datetime] = TypeAdapter(Annotated[Rfc3339, AfterValidator(within_bounds)])


def parse_time(name: str, text: str) -> datetime:
    """An RFC 3339 date-time with an offset, in UTC; InvalidInput otherwise."""
    try:
        return _EXPORT_TIME.validate_strings(text)
    except ValidationError as exc:
        raise InvalidInput(f"{name}: {_reason(exc, text)}", fields=(name,)) from exc


def _reason(exc: ValidationError, text: str) -> str:
    error = exc.errors()[0]
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    if error["type"] == "timezone_aware":
        return "give a time zone offset, e.g. 2026-10-25T00:00:00Z"
    # An unescaped "+" in a query string arrives as a space.
    hint = " (send '+' as %2B)" if " " in text else ""
    return f"not an RFC 3339 date-time: {text!r}{hint}"


def check_window(start: datetime, end: datetime, max_span: timedelta) -> None:
    """`to` must follow `from`, by at most `max_span`."""
    if end <= start:
        raise InvalidInput("to must be later than from", fields=("from", "to"))
    if end - start > max_span:
        raise InvalidInput(
            f"from and to may be at most {max_span.days} days apart; split the export",
            fields=("from", "to"),
        )
