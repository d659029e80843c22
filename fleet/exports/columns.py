"""The columns of each export, and how each kind of column is rendered per output."""

from dataclasses import dataclass
from enum import StrEnum

import pyarrow as pa

from app.core.mstime import sql_ms


class Kind(StrEnum):
    """What a column holds; decides its CSV text, its fetched value and its Arrow type."""

    TEXT = "text"
    TIME = "time"
    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    WORDS = "words"  # a list of words (event types): space-separated in CSV


RFC3339_MS = 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'

_ARROW: dict[Kind, pa.DataType] = {
    Kind.TEXT: pa.string(),
    Kind.TIME: pa.timestamp("ms", tz="UTC"),
    Kind.FLOAT: pa.float64(),
    Kind.INT: pa.int64(),
    Kind.BOOL: pa.bool_(),
    Kind.WORDS: pa.list_(pa.string()),
}


@dataclass(frozen=True)
class Column:
    """One column of an export."""

    name: str
    kind: Kind

    def csv_sql(self, source: str) -> str:
        """SQL giving the column's CSV text from `source`.`name` (for COPY ... csv)."""
        ref = f"{source}.{self.name}"
        if self.kind is Kind.TIME:
            return f"to_char({ref} AT TIME ZONE 'UTC', '{RFC3339_MS}') AS {self.name}"
        if self.kind is Kind.BOOL:
            return f"CASE WHEN {ref} THEN 'true' WHEN NOT {ref} THEN 'false' END AS {self.name}"
        if self.kind is Kind.WORDS:
            return f"array_to_string({ref}, ' ') AS {self.name}"
        return f"{ref} AS {self.name}"

    def value_sql(self, source: str) -> str:
        """SQL giving the column's value as fetched for GeoJSON and Parquet (times as
        integer milliseconds since the epoch, identifiers as text)."""
        ref = f"{source}.{self.name}"
        if self.kind is Kind.TIME:
            return f"{sql_ms(ref)} AS {self.name}"
        if self.kind is Kind.TEXT:
            return f"{ref}::text AS {self.name}"
        if self.kind is Kind.WORDS:
            return f"{ref}::text[] AS {self.name}"
        return f"{ref} AS {self.name}"

    @property
    def arrow_type(self) -> pa.DataType:
        """The column's Parquet (Arrow) type."""
        return _ARROW[self.kind]


def _columns(spec: str) -> tuple[Column, ...]:
    return tuple(Column(name, Kind(kind)) for name, kind in (c.split(":") for c in spec.split()))


TRIPS = _columns(
    "provider_id:text device_id:text trip_id:text vehicle_type:text"
    " start_time:time end_time:time start_lat:float start_lng:float end_lat:float end_lng:float"
    " duration_s:int distance_m:int parking_category:text"
)
# Open trips say whether their ends were generalised to the coarse grid.
OPEN_TRIPS = (*TRIPS, Column("generalised", Kind.BOOL))
EVENTS = _columns(
    "provider_id:text device_id:text event_id:text event_types:words vehicle_state:text"
    " occurred_at:time lat:float lng:float"
)
VEHICLE_STATUS = _columns(
    "provider_id:text device_id:text vehicle_type:text vehicle_state:text"
    " state_start:time state_end:time lat:float lng:float"
)


def arrow_schema(columns: tuple[Column, ...]) -> pa.Schema:
    """The Parquet schema of an export."""
    return pa.schema([pa.field(c.name, c.arrow_type) for c in columns])
