"""Legacy HTTP+SSE (2024-11-05): a held-open GET stream plus POSTs to its endpoint.

The GET's first event names the POST endpoint (relative or absolute, on the
same origin). Requests are POSTed there and answered with 202; their responses
come back on the stream and are matched to the waiting request by id. A
response that never comes is left to the caller's timeout: some servers answer
nothing at all. The stream is held without a task (stream.py); when it ends,
the session is gone with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import replace
from urllib.parse import urljoin, urlsplit

from mcpgate.protocol.http import (
    ERROR_BODY_BYTES,
    HttpSettings,
    body_excerpt,
    body_wait,
    classify_exception,
    read_body,
    status_failure,
)
from mcpgate.protocol.jsonrpc import RequestId, decode, is_notification, is_request, is_response
from mcpgate.protocol.outcome import Failure, Kind, Outcome, protocol_error
from mcpgate.protocol.session_http import SessionHttp
from mcpgate.protocol.sse import SSEError, SSEEvent, SSEParser
from mcpgate.protocol.stream import HeldStream
from mcpgate.protocol.transport import (
    DEFAULT_STREAM_IDLE,
    LEGACY_SSE,
    NO_METER,
    SSE_CONNECT,
    Reply,
    ServerMessageHandler,
    ServerQuirks,
    SessionMeter,
)
from mcpgate.protocol.wire.connection import Response
from mcpgate.protocol.wire.errors import WireError

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(parts.scheme)


class LegacySseTransport:
    name = LEGACY_SSE

    def __init__(self, http: SessionHttp, url: str, settings: HttpSettings, quirks: ServerQuirks) -> None:
        self._http = http
        self.url = url
        self._settings = settings
        self._post_headers = {"Content-Type": "application/json", **settings.headers}
        self.endpoint: str | None = None
        self._stream: HeldStream | None = None
        self._pending: dict[RequestId, asyncio.Future[tuple[object, float]]] = {}
        self._given_up: deque[RequestId] = deque(maxlen=64)  # ids we stopped waiting for
        self.broken: Failure | None = None  # why the stream ended, once it has
        self.stray_id: object = None  # the latest response id that answered nothing we wait for
        self.on_server_message: ServerMessageHandler | None = None
        self.session_id: str | None = None  # the session lives in the endpoint URL, not a header
        self.status: int | None = None
        self._started = 0.0  # loop time the current exchange began, to bound error-body reads
        self.meter: SessionMeter = NO_METER
        self.stream_idle = DEFAULT_STREAM_IDLE

    def _begin(self) -> None:
        self.status = None
        self._started = asyncio.get_running_loop().time()

    def _wait(self) -> float:
        return body_wait(self._started, self._settings)

    def set_version(self, version: str | None) -> None:
        return None  # HTTP+SSE has no version header

    def authorize(self, value: str) -> None:
        headers = {k: v for k, v in self._settings.headers.items() if k.lower() != "authorization"}
        self._settings = replace(self._settings, headers={**headers, "Authorization": value})
        self._post_headers = {"Content-Type": "application/json", **self._settings.headers}

    async def connect(self, deadline: float) -> int:
        """Open the stream and wait for the endpoint event; return the GET's status."""
        async with asyncio.timeout_at(deadline):
            return await self._connect()

    async def _connect(self) -> int:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache", **self._settings.headers}
        self._begin()
        resp = await self._http.get(self.url, headers=headers)
        status = self.status = resp.status
        try:
            parser, early = await self._endpoint_of(resp)
        except SSEError as exc:
            resp.close()
            raise protocol_error(str(exc), http_status=status) from None
        except Failure as failure:
            resp.close()
            raise failure.with_status(status) from None
        except BaseException:
            resp.close()
            raise
        try:
            for event in early:
                self._dispatch(event)
        except Failure:
            resp.close()
            raise
        self._stream = HeldStream(
            resp,
            parser,
            method=SSE_CONNECT,
            meter=self.meter,
            on_event=self._dispatch,
            on_end=self._lost,
            idle=self.stream_idle,
            polling=False,
        )
        self._stream.start()
        return status

    async def _endpoint_of(self, resp: Response) -> tuple[SSEParser, list[SSEEvent]]:
        """Read the GET's SSE stream up to its endpoint event: the parser, and the events that came after."""
        if not 200 <= resp.status < 300:
            raise await status_failure(resp, None, self._wait())
        if resp.content_type != "text/event-stream":
            data = await read_body(resp, ERROR_BODY_BYTES)
            ctype = resp.content_type or "(no Content-Type)"
            raise protocol_error(f"expected an SSE stream, got {ctype!r}: {body_excerpt(data, resp.content_type)}")
        parser = SSEParser(self._settings.max_response_bytes)
        early: list[SSEEvent] = []
        while self.endpoint is None:
            chunk = await resp.content.readany()
            if not chunk:
                raise protocol_error("SSE stream ended before the endpoint event")
            for event in parser.feed(chunk):
                if self.endpoint is None and event.event == "endpoint":
                    self.endpoint = self._resolve(event.data)
                elif self.endpoint is None:
                    raise protocol_error(f"first SSE event is {event.event!r}, not 'endpoint'")
                else:
                    early.append(event)
        return parser, early

    async def listen(self, deadline: float, resume: str | None = None) -> int | None:
        return None  # the session's stream is held from connect() on

    @property
    def holding(self) -> bool:
        return self._stream is not None and self._stream.open

    def _resolve(self, data: bytes) -> str:
        try:
            target = data.decode("utf-8").strip()
            endpoint = urljoin(self.url, target)
            same = _origin(self.url) == _origin(endpoint)
        except (UnicodeDecodeError, ValueError):
            raise protocol_error(f"endpoint event is not a usable URL: {data[:80]!r}") from None
        if not target:
            raise protocol_error("endpoint event carries no URL")
        if not same:
            raise protocol_error(f"endpoint {endpoint!r} is on another origin than the SSE URL")
        return endpoint

    def _lost(self, outcome: Outcome, cause: BaseException | None) -> None:
        """The stream ended without our asking: every waiting request fails, and the session is gone."""
        stream, self._stream = self._stream, None
        failure: Failure
        if isinstance(cause, Failure):
            failure = cause
        elif isinstance(cause, (WireError, OSError)) and outcome.kind is not Kind.STREAM_STALLED:
            failure = classify_exception(cause, self._settings)
        elif outcome.kind is Kind.STREAM_CLOSED:
            cut = " mid-event" if stream is not None and stream.parser.partial else ""
            failure = protocol_error(f"SSE stream closed by the server{cut}")
        else:
            failure = Failure(outcome)
        self._fail_all(failure)

    def _dispatch(self, event: SSEEvent) -> None:
        if event.event != "message" or not event.data:
            return
        message = decode(event.data, "SSE event")
        if is_response(message):
            msg_id = message.get("id")
            # Our ids are ints; a "1" or 1.0 from the server answers nothing we sent.
            future = self._pending.get(msg_id) if type(msg_id) is int else None
            if future is not None:
                if not future.done():
                    future.set_result((message, time.perf_counter()))
            elif msg_id not in self._given_up:
                self.stray_id = msg_id
                if len(self._pending) == 1:
                    # One request is waiting and this answers none we sent: it is the wrong id.
                    (waiting, only), *_ = self._pending.items()
                    if not only.done():
                        reason = f"response id {msg_id!r} does not match request id {waiting!r}"
                        only.set_exception(protocol_error(reason))
        elif is_request(message) or is_notification(message):
            if self.on_server_message is not None:
                self.on_server_message(message)
        else:
            raise protocol_error("SSE event holds no JSON-RPC message")

    def _fail_all(self, failure: Failure) -> None:
        self.broken = failure
        for future in self._pending.values():
            if not future.done():
                future.set_exception(failure.fresh())

    async def request(
        self, request_id: RequestId, body: bytes, headers: Mapping[str, str] | None, deadline: float
    ) -> Reply:
        if self.broken is not None:
            raise self.broken.fresh()
        future: asyncio.Future[tuple[object, float]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            async with asyncio.timeout_at(deadline):  # the answer comes on another stream
                status = await self._post(body, headers, request_id)
                message, done = await future
        except BaseException:
            self._given_up.append(request_id)
            raise
        finally:
            self._pending.pop(request_id, None)
        return Reply(message, status, done)

    async def _post(self, body: bytes, headers: Mapping[str, str] | None, request_id: RequestId | None) -> int:
        if self.endpoint is None:
            raise protocol_error("not connected")
        merged = {**self._post_headers, **headers} if headers else self._post_headers
        self._begin()
        async with self._http.post(self.endpoint, data=body, headers=merged) as resp:
            status = self.status = resp.status
            if not 200 <= status < 300:
                raise await status_failure(resp, request_id, self._wait())
            await read_body(resp, ERROR_BODY_BYTES)  # "Accepted", or whatever a server says
            return status

    async def notify(self, body: bytes, headers: Mapping[str, str] | None, deadline: float) -> int:
        if self.broken is not None:
            raise self.broken.fresh()
        async with asyncio.timeout_at(deadline):
            return await self._post(body, headers, None)

    async def answer(self, body: bytes) -> None:
        if self.broken is None and self.endpoint is not None:
            with contextlib.suppress(Failure, WireError, OSError):
                async with self._http.post(self.endpoint, data=body, headers=self._post_headers) as resp:
                    await read_body(resp, ERROR_BODY_BYTES)

    def abandon(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
            self._fail_all(protocol_error("session closed"))

    async def close(self, deadline: float | None = None) -> int | None:
        self.abandon()
        return None
