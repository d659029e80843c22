"""Stored telemetry rows back to MDS Telemetry objects (pure)."""

from collections.abc import Mapping
from typing import Any

_GPS = ("altitude", "heading", "speed", "horizontal_accuracy", "vertical_accuracy", "satellites")
_OPTIONAL = (
    "data_provider_id",
    "stop_id",
    "location_type",
    "battery_percent",
    "fuel_percent",
    "tipped_over",
)


def _text(value: Any) -> Any:
    return str(value) if value is not None else None


def telemetry_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """An MDS Telemetry object; `ts_ms` is the timestamp in milliseconds. Fields MDS does
    not define come back as they were given (`extras`, those of the GPS under `location`)."""
    extras: dict[str, Any] = dict(row.get("extras") or {})
    location: dict[str, Any] = {**extras.pop("location", {}), "lat": row["lat"], "lng": row["lng"]}
    location.update({k: row[k] for k in _GPS if row[k] is not None})
    record: dict[str, Any] = {
        **extras,
        "device_id": str(row["device_id"]),
        "provider_id": str(row["provider_id"]),
        "telemetry_id": str(row["telemetry_id"]),
        "timestamp": int(row["ts_ms"]),
        "trip_ids": [str(t) for t in row["trip_ids"]] if row["trip_ids"] else None,
        "journey_id": _text(row["journey_id"]),
        "location": location,
    }
    record.update(
        {k: _text(row[k]) if k.endswith("_id") else row[k] for k in _OPTIONAL if row[k] is not None}
    )
    return record
