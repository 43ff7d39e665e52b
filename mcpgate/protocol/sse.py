"""An incremental Server-Sent Events parser (the WHATWG event-stream rules).

Bytes go in as they arrive from the socket, complete events come out. Lines end
in CRLF, LF or a lone CR, and a CRLF may be split across two chunks. Comment
lines (``:``) are skipped. ``data`` stays bytes: it is JSON, and the JSON
decoder checks UTF-8 itself, so the hot path never decodes twice.
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
    def __init__(self, max_line: int = 8 * 1024 * 1024) -> None:
        self._max_line = max_line
        self._tail = b""
        self._skip_lf = False
        self._event = ""
        self._data: list[bytes] = []
        self._id: str | None = None
        self._retry: int | None = None
        self._has_fields = False
        self.comments = 0
        self.last_event_id: str | None = None

    @property
    def partial(self) -> bool:
        """True when the stream so far ends inside an event (cut mid-event)."""
        return bool(self._tail) or self._has_fields

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        data = self._tail + chunk if self._tail else chunk
        if not data:
            return []
        if b"\r" in data:
            # A CR that ends the chunk already ends its line; a LF that opens the
            # next chunk is then the second half of that CRLF, not an empty line.
            self._skip_lf = data.endswith(b"\r")
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = data.split(b"\n")
        self._tail = lines.pop()
        if len(self._tail) > self._max_line:
            raise SSEError(f"an SSE line exceeds {self._max_line} bytes")
        events: list[SSEEvent] = []
        for line in lines:
            if not line:
                if self._has_fields:
                    event = self._dispatch()
                    if event is not None:
                        events.append(event)
                continue
            self._field(line)
        return events

    def _field(self, line: bytes) -> None:
        if line[0] == 0x3A:  # ':' comment, e.g. keep-alive pings
            self.comments += 1
            return
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        self._has_fields = True
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = _text(value, "event")
        elif name == b"id" and b"\0" not in value:
            self._id = _text(value, "id")
        elif name == b"retry" and value.isdigit():
            self._retry = int(value)
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
        self._id = None
        self._retry = None
        self._has_fields = False
        return event


def _text(value: bytes, field: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SSEError(f"SSE {field} field is not valid UTF-8") from exc
