"""Streamable HTTP (2025-03-26 .. 2026-07-28): one POST per message, JSON or SSE back.

The answer to a request is either ``application/json`` or an SSE stream that may
carry server notifications and requests before the response. We read until the
first response event and let the session check that its id is ours. Before
2026-07-28 a server may also end the stream early after an event id and let the
client resume it with GET + ``Last-Event-ID`` (SSE polling); we do.

A session may also hold the standalone GET stream (``listen``), on which the
server sends its own requests and notifications; it is held without a task
(stream.py) and dropped before the session's DELETE.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from mcpgate.protocol.http import (
    ERROR_BODY_BYTES,
    HttpSettings,
    body_excerpt,
    body_wait,
    classify_exception,
    read_body,
    status_failure,
)
from mcpgate.protocol.jsonrpc import RequestId, decode, is_notification, is_request, is_response, same_id
from mcpgate.protocol.outcome import Failure, Outcome, protocol_error
from mcpgate.protocol.session_http import SessionHttp
from mcpgate.protocol.sse import SSEError, SSEEvent, SSEParser
from mcpgate.protocol.stream import HeldStream
from mcpgate.protocol.streamable_headers import SESSION_HEADER, fixed_headers, session_headers
from mcpgate.protocol.transport import (
    DEFAULT_STREAM_IDLE,
    NO_METER,
    SSE_LISTEN,
    STREAMABLE_HTTP,
    Reply,
    ServerMessageHandler,
    ServerQuirks,
    SessionMeter,
)
from mcpgate.protocol.versions import is_modern
from mcpgate.protocol.wire.connection import Response
from mcpgate.protocol.wire.errors import RequestTimeout, WireError
from mcpgate.protocol.wire.pool import RequestHeaders, header_lines

MAX_RESUMES = 8  # GET + Last-Event-ID attempts for one request
MAX_RETRY_WAIT = 5.0  # seconds: a server's retry: field is obeyed up to this

# Told when the GET stream ended without our asking: how, and what a reconnect needs
# (the last event id, to resume from; the server's retry field, in ms).
StreamEndHandler = Callable[[Outcome, str | None, int | None], None]


class StreamableHttpTransport:
    name = STREAMABLE_HTTP

    def __init__(self, http: SessionHttp, url: str, settings: HttpSettings, quirks: ServerQuirks) -> None:
        self._http = http
        self.url = url
        self._settings = settings
        self._quirks = quirks
        self._fixed = fixed_headers(url, tuple(settings.headers.items()))
        self._session_id: str | None = None
        self._version: str | None = None
        self._rebuild_headers()
        self.on_server_message: ServerMessageHandler | None = None
        self.status: int | None = None
        self._started = 0.0  # loop time the current exchange began, to bound error-body reads
        self.meter: SessionMeter = NO_METER
        self.stream_idle = DEFAULT_STREAM_IDLE
        self.on_stream_end: StreamEndHandler | None = None
        self._stream: HeldStream | None = None  # the standalone GET stream, while held

    def _begin(self) -> None:
        self.status = None
        self._started = asyncio.get_running_loop().time()

    def _wait(self) -> float:
        return body_wait(self._started, self._settings)

    @property
    def session_id(self) -> str | None:
        return self._session_id

    @session_id.setter
    def session_id(self, value: str | None) -> None:
        self._session_id = value
        self._rebuild_headers()

    def set_version(self, version: str | None) -> None:
        self._version = version
        self._rebuild_headers()

    def authorize(self, value: str) -> None:
        headers = {k: v for k, v in self._settings.headers.items() if k.lower() != "authorization"}
        self._settings = replace(self._settings, headers={**headers, "Authorization": value})
        self._fixed = fixed_headers(self.url, tuple(self._settings.headers.items()))
        self._rebuild_headers()

    def _rebuild_headers(self) -> None:
        # Encoded once per session change, not per request: the hot path writes these bytes as they are.
        self._headers_cache, self._post_block, self._bare_block = session_headers(
            self._fixed, self._session_id, self._version
        )

    def _headers(self, extra: Mapping[str, str] | None) -> RequestHeaders:
        block = self._post_block
        if block is None:
            return {**self._headers_cache, **extra} if extra else self._headers_cache
        if not extra:
            return block
        if any(name.lower() in self._fixed.names for name in extra):
            return {**self._headers_cache, **extra}  # an override: let the pool merge by name
        return block + header_lines(extra)

    async def connect(self, deadline: float) -> int | None:
        return None

    async def request(
        self, request_id: RequestId, body: bytes, headers: Mapping[str, str] | None, deadline: float
    ) -> Reply:
        self._begin()
        try:
            async with self._http.post(self.url, data=body, headers=self._headers(headers), deadline=deadline) as resp:
                status = self.status = resp.status
                try:
                    return await self._answer_of(resp, request_id, deadline)
                except Failure as failure:
                    raise failure.with_status(status) from None
                except (WireError, OSError) as exc:
                    raise classify_exception(exc, self._settings).with_status(status) from None
        except (WireError, OSError) as exc:  # before the headers: connect, send, or the deadline
            raise classify_exception(exc, self._settings) from None

    async def _answer_of(self, resp: Response, request_id: RequestId, deadline: float) -> Reply:

        status = resp.status
        if not 200 <= status < 300:
            raise await status_failure(resp, request_id, self._wait())
        if status == 202:
            raise protocol_error("202 Accepted with no response to a request")
        session_id = resp.headers.get(SESSION_HEADER)
        ctype = resp.content_type
        if ctype == "application/json":
            data = await read_body(resp, self._settings.max_response_bytes)
            done = time.perf_counter()
            message = decode(data, "JSON response")
            if isinstance(message, list):  # a batch answer (2025-03-26): take ours
                message = next((m for m in message if is_response(m) and same_id(m.get("id"), request_id)), None)
                if message is None:
                    raise protocol_error("batch response holds no answer to our request")
            return Reply(message, status, done, 0, len(data), session_id, "json")
        if ctype == "text/event-stream":
            parser = SSEParser(self._settings.max_response_bytes)
            reply, seen = await self._consume(resp, parser, session_id)
            if reply is not None:
                return reply
            return await self._resume(parser, session_id, seen, deadline)
        data = await read_body(resp, ERROR_BODY_BYTES)
        raise protocol_error(
            f"unexpected Content-Type {ctype or '(none)'!r} for a response: {body_excerpt(data, ctype)}"
        )

    async def _consume(self, resp: Response, parser: SSEParser, session_id: str | None) -> tuple[Reply | None, int]:
        """Read SSE events until a response arrives, or the stream ends (no reply; the messages seen)."""
        cap = self._settings.max_response_bytes
        total = 0
        seen = 0
        try:
            while chunk := await resp.content.readany():
                total += len(chunk)
                if total > cap:
                    raise protocol_error(f"SSE stream exceeds the {cap}-byte limit before the response")
                for event in parser.feed(chunk):
                    if not event.data:  # priming event: an id and empty data
                        continue
                    message = decode(event.data, "SSE event")
                    if is_response(message):
                        done = time.perf_counter()
                        await self._finish(resp)
                        return Reply(message, resp.status, done, seen, total, session_id, "sse"), seen
                    if not (is_request(message) or is_notification(message)):
                        raise protocol_error("SSE event holds no JSON-RPC message")
                    seen += 1
                    if self.on_server_message is not None:
                        self.on_server_message(message)
        except SSEError as exc:
            raise protocol_error(str(exc)) from None
        if parser.partial:
            raise protocol_error("SSE stream cut mid-event, before the response")
        return None, seen

    async def _resume(self, parser: SSEParser, session_id: str | None, seen: int, deadline: float) -> Reply:
        """The stream ended without the answer: resume it (GET + Last-Event-ID) if the server allows."""
        where = f" after {seen} server message(s)" if seen else ""
        if parser.last_event_id is None or is_modern(self._version or ""):
            raise protocol_error(f"SSE stream ended{where} without the response")
        loop = asyncio.get_running_loop()
        for _ in range(MAX_RESUMES):
            wait = min((parser.retry or 0) / 1000.0, MAX_RETRY_WAIT)
            if loop.time() + wait >= deadline:
                raise RequestTimeout("the deadline passes before the stream may be resumed")
            await asyncio.sleep(wait)
            assert parser.last_event_id is not None
            headers = {**self._headers_cache, "Accept": "text/event-stream", "Last-Event-ID": parser.last_event_id}
            headers.pop("Content-Type", None)
            async with self._http.get(self.url, headers=headers, deadline=deadline) as resp:
                if resp.status != 200 or resp.content_type != "text/event-stream":
                    failure = await status_failure(resp, None, self._wait()) if resp.status >= 300 else None
                    why = failure.outcome.describe() if failure else f"{resp.status} {resp.content_type}"
                    raise protocol_error(f"SSE stream ended{where}; resuming it with Last-Event-ID failed: {why}")
                reply, more = await self._consume(resp, parser, session_id)
                if reply is not None:
                    reply.server_messages += seen
                    return reply
                seen += more
        raise protocol_error(f"SSE stream ended {MAX_RESUMES + 1} times without the response")

    async def _finish(self, resp: Response) -> None:
        """Let the server end the stream so the connection is reused; close it if it lingers."""
        if resp.content.at_eof():
            return
        if self._quirks.lingering_streams or self._settings.drain_grace <= 0:
            resp.close()
            return
        try:
            async with asyncio.timeout(self._settings.drain_grace):
                while await resp.content.readany():
                    pass
        except TimeoutError:
            self._quirks.lingering_streams = True  # this server keeps streams open: stop waiting on it
            resp.close()
        except (WireError, OSError):
            resp.close()

    async def _post(self, body: bytes, headers: Mapping[str, str] | None, deadline: float | None) -> int:
        self._started = asyncio.get_running_loop().time()
        async with self._http.post(self.url, data=body, headers=self._headers(headers), deadline=deadline) as resp:
            if not 200 <= resp.status < 300:
                raise await status_failure(resp, None, self._wait())
            if resp.status != 202:
                raise protocol_error(
                    f"expected 202 Accepted for a notification, got {resp.status}", http_status=resp.status
                )
            return resp.status

    async def notify(self, body: bytes, headers: Mapping[str, str] | None, deadline: float) -> int:
        self._begin()
        status = self.status = await self._post(body, headers, deadline)
        return status

    async def answer(self, body: bytes) -> None:
        with contextlib.suppress(Failure, WireError, OSError):
            await self._post(body, None, None)

    # -- the standalone GET stream ---------------------------------------------------------

    @property
    def holding(self) -> bool:
        return self._stream is not None and self._stream.open

    async def listen(self, deadline: float, resume: str | None = None) -> int | None:
        """Open the GET stream and hold it; its status: 200 (held), or 405 (the server offers none).

        Anything else raises the failure it is. Bounded by ``deadline`` until the headers;
        after that the stream lives until the session drops it, the server ends it, or it
        stays silent past ``stream_idle``. This exchange never touches ``status``: it may run
        beside a request (a reconnect), whose step reads that.
        """
        headers = {k: v for k, v in self._headers_cache.items() if k not in ("Content-Type", "Accept")}
        headers["Accept"] = "text/event-stream"
        if resume is not None:
            headers["Last-Event-ID"] = resume
        started = asyncio.get_running_loop().time()
        try:
            resp = await self._http.get(self.url, headers=headers, deadline=deadline)
        except (WireError, OSError) as exc:
            raise classify_exception(exc, self._settings) from None
        status = resp.status
        try:
            if status == 405:
                await _discard(resp, body_wait(started, self._settings))
                return status
            if not 200 <= status < 300:
                raise await status_failure(resp, None, body_wait(started, self._settings))
            if resp.content_type != "text/event-stream":
                data = await read_body(resp, ERROR_BODY_BYTES)
                ctype = resp.content_type or "(none)"
                raise protocol_error(f"GET stream answered with Content-Type {ctype!r}: {body_excerpt(data, ctype)}")
        except Failure as failure:
            resp.close()
            raise failure.with_status(status) from None
        except (WireError, OSError) as exc:
            resp.close()
            raise classify_exception(exc, self._settings).with_status(status) from None
        except BaseException:
            resp.close()
            raise
        self.drop_stream()
        self._stream = HeldStream(
            resp,
            SSEParser(self._settings.max_response_bytes),
            method=SSE_LISTEN,
            meter=self.meter,
            on_event=self._stream_event,
            on_end=self._stream_ended,
            idle=self.stream_idle,
            polling=True,
        )
        self._stream.start()
        return status

    def drop_stream(self) -> None:
        """Close the GET stream from our side (the session is ending): no callback, no reconnect."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()

    def _stream_event(self, event: SSEEvent) -> None:
        if not event.data:
            return  # a priming event: an id and no data
        message = decode(event.data, "GET stream event")
        if is_request(message) or is_notification(message):
            if self.on_server_message is not None:
                self.on_server_message(message)
        elif not is_response(message):  # a response here answers nothing we wait for: ignored
            raise protocol_error("GET stream event holds no JSON-RPC message")

    def _stream_ended(self, outcome: Outcome, cause: BaseException | None) -> None:
        stream, self._stream = self._stream, None
        if self.on_stream_end is not None and stream is not None:
            self.on_stream_end(outcome, stream.parser.last_event_id, stream.parser.retry)

    # -- the end ---------------------------------------------------------------------------

    async def close(self, deadline: float | None = None) -> int | None:
        """Drop the GET stream, then DELETE the session. 405 (the server keeps sessions) and
        404 (already gone) are fine."""
        self.drop_stream()
        if self._session_id is None:
            return None
        headers: RequestHeaders = self._bare_block
        if headers is None:
            headers = {k: v for k, v in self._headers_cache.items() if k != "Content-Type"}
        self._begin()
        async with self._http.delete(self.url, headers=headers, deadline=deadline) as resp:
            status = self.status = resp.status
            self.session_id = None
            if 200 <= status < 300 or status in (404, 405):
                return status
            raise await status_failure(resp, None, self._wait())

    def abandon(self) -> None:
        self.drop_stream()


async def _discard(resp: Response, wait: float) -> None:
    """Read a short answer we do not need, so its connection can be reused; give up quickly."""
    try:
        async with asyncio.timeout(wait):
            await read_body(resp, ERROR_BODY_BYTES)
    except (Failure, WireError, OSError, TimeoutError):
        resp.close()
    else:
        resp.release()
