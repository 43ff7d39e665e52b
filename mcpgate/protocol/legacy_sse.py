"""Legacy HTTP+SSE (2024-11-05): a held-open GET stream plus POSTs to its endpoint.

The GET's first event names the POST endpoint (relative or absolute). Requests
are POSTed there and answered with 202; their responses come back on the stream
and are matched to the waiting request by id. A response that never comes is
left to the caller's timeout: some servers answer nothing at all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit

import aiohttp

from mcpgate.protocol.http import HttpSettings, body_excerpt, classify_exception, read_body, status_failure
from mcpgate.protocol.jsonrpc import RequestId, decode, is_notification, is_request, is_response
from mcpgate.protocol.outcome import Failure, protocol_error
from mcpgate.protocol.sse import SSEError, SSEEvent, SSEParser
from mcpgate.protocol.transport import LEGACY_SSE, Reply, ServerMessageHandler


class LegacySseTransport:
    name = LEGACY_SSE

    def __init__(self, http: aiohttp.ClientSession, url: str, settings: HttpSettings) -> None:
        self._http = http
        self.url = url
        self._settings = settings
        self._post_headers = {"Content-Type": "application/json", **settings.headers}
        self.endpoint: str | None = None
        self._stream: aiohttp.ClientResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[RequestId, asyncio.Future[object]] = {}
        self._broken: Failure | None = None
        self.stray_ids: list[object] = []  # responses that answered no pending request
        self.received = 0
        self.on_server_message: ServerMessageHandler | None = None
        self.status: int | None = None  # of the latest response, once its headers are in

    async def connect(self) -> int:
        """Open the stream and wait for the endpoint event; return the GET's status."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache", **self._settings.headers}
        self.status = None
        resp = await self._http.get(self.url, headers=headers)
        self.status = resp.status
        try:
            if not 200 <= resp.status < 300:
                raise await status_failure(resp, None)
            if resp.content_type != "text/event-stream":
                data = await read_body(resp, 64 * 1024)
                raise protocol_error(
                    f"expected an SSE stream, got {resp.content_type or '(no Content-Type)'!r}: "
                    f"{body_excerpt(data, resp.content_type)}",
                    http_status=resp.status,
                )
            parser = SSEParser(self._settings.max_response_bytes)
            early: list[SSEEvent] = []
            while self.endpoint is None:
                chunk = await resp.content.readany()
                if not chunk:
                    raise protocol_error("SSE stream ended before the endpoint event", http_status=resp.status)
                self.received += len(chunk)
                for event in parser.feed(chunk):
                    if self.endpoint is None and event.event == "endpoint":
                        self.endpoint = self._resolve(event.data, resp.status)
                    elif self.endpoint is None:
                        raise protocol_error(
                            f"first SSE event is {event.event!r}, not 'endpoint'", http_status=resp.status
                        )
                    else:
                        early.append(event)
        except SSEError as exc:
            resp.close()
            raise protocol_error(str(exc), http_status=resp.status) from None
        except BaseException:
            resp.close()
            raise
        self._stream = resp
        for event in early:
            self._dispatch(event)
        self._reader = asyncio.create_task(self._read(resp, parser))
        return resp.status

    def _resolve(self, data: bytes, status: int) -> str:
        try:
            target = data.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise protocol_error("endpoint event is not valid UTF-8", http_status=status) from None
        if not target:
            raise protocol_error("endpoint event carries no URL", http_status=status)
        endpoint = urljoin(self.url, target)
        ours, theirs = urlsplit(self.url), urlsplit(endpoint)
        if (ours.scheme, ours.netloc) != (theirs.scheme, theirs.netloc):
            raise protocol_error(f"endpoint {endpoint!r} is on another origin than the SSE URL", http_status=status)
        return endpoint

    async def _read(self, resp: aiohttp.ClientResponse, parser: SSEParser) -> None:
        failure: Failure
        try:
            while chunk := await resp.content.readany():
                self.received += len(chunk)
                for event in parser.feed(chunk):
                    self._dispatch(event)
            cut = " mid-event" if parser.partial else ""
            failure = protocol_error(f"SSE stream closed by the server{cut}")
        except asyncio.CancelledError:
            self._fail_all(protocol_error("session closed"))
            raise
        except SSEError as exc:
            failure = protocol_error(str(exc))
        except Failure as exc:
            failure = exc
        except (aiohttp.ClientError, OSError) as exc:
            failure = classify_exception(exc, self._settings)
        self._fail_all(failure)

    def _dispatch(self, event: SSEEvent) -> None:
        if event.event != "message" or not event.data:
            return
        message = decode(event.data, "SSE event")
        if is_response(message):
            assert isinstance(message, dict)
            msg_id = message.get("id")
            # Our ids are ints; a "1" or 1.0 from the server answers nothing we sent.
            future = self._pending.get(msg_id) if isinstance(msg_id, int) and not isinstance(msg_id, bool) else None
            if future is None:
                self.stray_ids.append(msg_id)
            elif not future.done():
                future.set_result(message)
        elif is_request(message) or is_notification(message):
            if self.on_server_message is not None:
                assert isinstance(message, dict)
                self.on_server_message(message)
        else:
            raise protocol_error("SSE event holds no JSON-RPC message")

    def _fail_all(self, failure: Failure) -> None:
        self._broken = failure
        for future in self._pending.values():
            if not future.done():
                future.set_exception(failure)

    async def request(self, request_id: RequestId, body: bytes, headers: Mapping[str, str] | None = None) -> Reply:
        if self._broken is not None:
            raise self._broken
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            status = await self._post(body, headers, request_id)
            message = await future
        finally:
            self._pending.pop(request_id, None)
        return Reply(message, status)

    async def _post(self, body: bytes, headers: Mapping[str, str] | None, request_id: RequestId | None) -> int:
        if self.endpoint is None:
            raise protocol_error("not connected")
        merged = {**self._post_headers, **headers} if headers else self._post_headers
        self.status = None
        async with self._http.post(self.endpoint, data=body, headers=merged) as resp:
            self.status = resp.status
            if not 200 <= resp.status < 300:
                raise await status_failure(resp, request_id)
            await resp.read()
            return resp.status

    async def notify(self, body: bytes, headers: Mapping[str, str] | None = None) -> int:
        if self._broken is not None:
            raise self._broken
        return await self._post(body, headers, None)

    async def close(self) -> int | None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        return None
