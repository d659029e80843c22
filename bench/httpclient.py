"""A minimal HTTP/1.1 keep-alive client on asyncio streams.

The load generator shares the cores with the server, so it does no more per request than
write pre-built bytes and read the status and the body.
"""

import asyncio
from contextlib import suppress
from dataclasses import dataclass


class ProtocolError(Exception):
    """The server's answer was not HTTP/1.1 this client understands."""


@dataclass(frozen=True)
class Response:
    """Status and body of one answer."""

    status: int
    body: bytes


def request_head(method: str, path: str, host: str, headers: dict[str, str], length: int) -> bytes:
    """Request line and headers for a body of `length` bytes."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {length}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Connection:
    """One persistent connection; requests on it run one at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The open streams, opening them first if needed."""
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    async def send(self, head: bytes, body: bytes) -> Response:
        """Send one request and read its whole response."""
        reader, writer = await self.connect()
        writer.write(head)
        writer.write(body)
        await writer.drain()
        status_line = await reader.readline()
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ProtocolError(f"bad status line {status_line!r}")
        length, closing = await _read_headers(reader)
        payload = await reader.readexactly(length)
        if closing:
            await self.close()
        return Response(int(parts[1]), payload)

    async def close(self) -> None:
        """Close the socket; the next request opens a new one."""
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()


async def _read_headers(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(content length, connection closing?) from the response headers."""
    length, closing = 0, False
    # Bounded: a response with this many header lines is broken anyway.
    for _ in range(200):
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            return length, closing
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"content-length":
            length = int(value)
        elif key == b"transfer-encoding":
            # Both servers measured here send a Content-Length; keep the client small.
            raise ProtocolError("chunked responses are not supported")
        elif key == b"connection":
            closing = b"close" in value.lower()
    raise ProtocolError("too many response headers")
