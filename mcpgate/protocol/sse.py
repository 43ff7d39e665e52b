"""An incremental Server-Sent Events parser (the WHATWG event-stream rules).

Bytes go in as they arrive from the socket, complete events come out. Lines end
in CRLF, LF or a lone CR, and a CRLF may be split across two chunks. Comment
lines (``:``) are skipped. ``data`` stays bytes: it is JSON, and the JSON
decoder checks UTF-8 itself, so the hot path never decodes twice.

Work is linear in the bytes fed: only the new chunk is scanned for line ends,
and an unfinished line waits as a list of pieces until its end arrives.
"""

from __future__ import annotations

from dataclasses import dataclass


class SSEError(ValueError):
    """The stream broke the event-stream format or a size bound."""


@dataclass(slots=True)
class SSEEvent:
    event: str
    data: bytes
    id: str | None = None
    retry: int | None = None


class SSEParser:
    def __init__(self, max_event: int = 8 * 1024 * 1024) -> None:
        self._max_event = max_event  # bytes in one event (its data, or one unfinished line)
        self._tail: list[bytes] = []  # pieces of a line whose end has not arrived
        self._tail_size = 0
        self._skip_lf = False
        self._event = ""
        self._data: list[bytes] = []
        self._data_size = 0
        self._id: str | None = None
        self._retry: int | None = None
        self._has_fields = False
        self.last_event_id: str | None = None  # for resuming a stream (Last-Event-ID)
        self.retry: int | None = None  # the server's reconnection delay in ms, if it sent one

    @property
    def partial(self) -> bool:
        """True when the stream so far ends inside an event (cut mid-event)."""
        return bool(self._tail) or self._has_fields

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:
            # A CR that ends the chunk already ends its line; a LF that opens the
            # next chunk is then the second half of that CRLF, not an empty line.
            self._skip_lf = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if b"\n" not in chunk:
            if chunk:
                self._hold(chunk)
            return []
        lines = chunk.split(b"\n")
        if self._tail:
            lines[0] = b"".join((*self._tail, lines[0]))
            self._tail.clear()
            self._tail_size = 0
        rest = lines.pop()
        events: list[SSEEvent] = []
        for line in lines:
            if line:
                self._field(line)
            elif self._has_fields:
                event = self._dispatch()
                if event is not None:
                    events.append(event)
        if rest:
            self._hold(rest)
        return events

    def _hold(self, piece: bytes) -> None:
        self._tail.append(piece)
        self._tail_size += len(piece)
        if self._tail_size > self._max_event:
            raise SSEError(f"an SSE line exceeds {self._max_event} bytes")

    def _field(self, line: bytes) -> None:
        if line[0] == 0x3A:  # ':' comment, e.g. keep-alive pings
            return
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        self._has_fields = True
        if name == b"data":
            self._data.append(value)
            self._data_size += len(value)
            if self._data_size > self._max_event:
                raise SSEError(f"an SSE event exceeds {self._max_event} bytes")
        elif name == b"event":
            self._event = _text(value, "event")
        elif name == b"id" and b"\0" not in value:
            self._id = _text(value, "id")
        elif name == b"retry" and value.isdigit():
            self._retry = self.retry = int(value)
        # Unknown fields are ignored, as the standard requires.

    def _dispatch(self) -> SSEEvent | None:
        if self._id is not None:
            self.last_event_id = self._id
        event = None
        if self._data:
            data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
            event = SSEEvent(self._event or "message", data, self._id, self._retry)
        self._event = ""
        self._data = []
        self._data_size = 0
        self._id = None
        self._retry = None
        self._has_fields = False
        return event


def _text(value: bytes, field: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SSEError(f"SSE {field} field is not valid UTF-8") from exc
