"""Writers: CSV (passed through from COPY), GeoJSON and Parquet, streamed as pieces."""

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from app.core.mstime import rfc3339_ms
from fleet.exports.columns import Column, Kind, arrow_schema
from fleet.exports.request import Dataset, Format

MEDIA_TYPES = {
    Format.CSV: "text/csv; charset=utf-8",
    Format.GEOJSON: "application/geo+json",
    Format.PARQUET: "application/vnd.apache.parquet",
}


class Piece(NamedTuple):
    """Bytes of the output and how many rows they complete."""

    data: bytes
    rows: int


async def csv_pieces(chunks: AsyncIterator[bytes]) -> AsyncGenerator[Piece, None]:
    """COPY's CSV chunks, counting rows by line ends (no exported value holds a line
    break: identifiers, vocabulary words, numbers and times); the header is no row."""
    header = True
    async for chunk in chunks:
        rows = chunk.count(b"\n")
        if header and rows:
            rows, header = rows - 1, False
        yield Piece(chunk, rows)


@dataclass(frozen=True)
class Geometry:
    """The (lat, lng) column pairs of a feature: one makes a Point, two a LineString."""

    points: tuple[tuple[str, str], ...]

    @property
    def names(self) -> frozenset[str]:
        """The coordinate columns, which are left out of the properties."""
        return frozenset(name for point in self.points for name in point)


# Trips are drawn from start to end as a straight LineString (the route is not exported);
# events and statuses as a Point, or with a null geometry when the position is withheld.
GEOMETRIES = {
    Dataset.TRIPS: Geometry((("start_lat", "start_lng"), ("end_lat", "end_lng"))),
    Dataset.EVENTS: Geometry((("lat", "lng"),)),
    Dataset.VEHICLE_STATUS: Geometry((("lat", "lng"),)),
}


def feature_writer(
    columns: Sequence[Column], geometry: Geometry
) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """A function making a GeoJSON Feature of a row of `columns`."""
    index = {c.name: i for i, c in enumerate(columns)}
    points = [(index[lng], index[lat]) for lat, lng in geometry.points]
    kind = "Point" if len(points) == 1 else "LineString"
    properties = [
        (c.name, index[c.name], c.kind is Kind.TIME)
        for c in columns
        if c.name not in geometry.names
    ]

    def feature(row: Sequence[Any]) -> dict[str, Any]:
        coordinates = [(row[lng], row[lat]) for lng, lat in points]
        shape: dict[str, Any] | None = None
        if all(lng is not None and lat is not None for lng, lat in coordinates):
            shape = {
                "type": kind,
                "coordinates": coordinates[0] if kind == "Point" else coordinates,
            }
        values = {
            name: rfc3339_ms(row[i]) if time and row[i] is not None else row[i]
            for name, i, time in properties
        }
        return {"type": "Feature", "geometry": shape, "properties": values}

    return feature


async def geojson_pieces(
    batches: AsyncIterator[Sequence[Sequence[Any]]], columns: Sequence[Column], geometry: Geometry
) -> AsyncGenerator[Piece, None]:
    """A FeatureCollection written feature by feature."""
    feature = feature_writer(columns, geometry)
    yield Piece(b'{"type":"FeatureCollection","features":[', 0)
    separator = b""
    async for batch in batches:
        features = orjson.dumps([feature(row) for row in batch])
        yield Piece(separator + features[1:-1], len(batch))
        separator = b","
    yield Piece(b"]}\n", 0)


class _Drain:
    """A write-only file that keeps what was written until it is taken."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        """Nothing is buffered."""

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def record_batch(rows: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.RecordBatch:
    """Rows (times as integer milliseconds) as an Arrow record batch."""
    arrays = [pa.array([row[i] for row in rows], type=field.type) for i, field in enumerate(schema)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


async def parquet_pieces(
    batches: AsyncIterator[Sequence[Sequence[Any]]], columns: Sequence[Column], *, group_rows: int
) -> AsyncGenerator[Piece, None]:
    """A Parquet file written a row group at a time: each group is handed on (and
    forgotten) as soon as it is written; only the footer waits for the end."""
    schema = arrow_schema(tuple(columns))
    sink = _Drain()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    pending: list[pa.RecordBatch] = []
    pending_rows = 0

    def write_group() -> Piece:
        nonlocal pending, pending_rows
        rows = pending_rows
        writer.write_table(pa.Table.from_batches(pending, schema), row_group_size=rows)
        pending, pending_rows = [], 0
        return Piece(sink.take(), rows)

    try:
        async for batch in batches:
            pending.append(record_batch(batch, schema))
            pending_rows += len(batch)
            if pending_rows >= group_rows:
                yield write_group()
        if pending:
            yield write_group()
    finally:
        writer.close()
    yield Piece(sink.take(), 0)
