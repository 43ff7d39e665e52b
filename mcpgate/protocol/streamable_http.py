"""Streamable HTTP (2025-03-26 .. 2026-07-28): one POST per message, JSON or SSE back.

The answer to a request is either ``application/json`` or an SSE stream that may
carry server notifications and requests before the response; we read until the
event whose id matches ours. Session ids are HTTP state, so they live here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp

from mcpgate.protocol.http import HttpSettings, body_excerpt, read_body, status_failure
from mcpgate.protocol.jsonrpc import RequestId, decode, is_notification, is_request, is_response, same_id
from mcpgate.protocol.outcome import protocol_error
from mcpgate.protocol.sse import SSEError, SSEParser
from mcpgate.protocol.transport import STREAMABLE_HTTP, Reply, ServerMessageHandler

ACCEPT_BOTH = "application/json, text/event-stream"
SESSION_HEADER = "Mcp-Session-Id"
VERSION_HEADER = "MCP-Protocol-Version"


class StreamableHttpTransport:
    name = STREAMABLE_HTTP

    def __init__(self, http: aiohttp.ClientSession, url: str, settings: HttpSettings) -> None:
        self._http = http
        self.url = url
        self._settings = settings
        self._base = {"Content-Type": "application/json", "Accept": ACCEPT_BOTH, **settings.headers}
        self._drain = settings.drain_grace
        self.session_id: str | None = None
        self.protocol_version: str | None = None  # sent as MCP-Protocol-Version once known
        self.on_server_message: ServerMessageHandler | None = None
        self.status: int | None = None  # of the latest response, once its headers are in

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = dict(self._base)
        if self.session_id is not None:
            headers[SESSION_HEADER] = self.session_id
        if self.protocol_version is not None:
            headers[VERSION_HEADER] = self.protocol_version
        if extra:
            headers.update(extra)
        return headers

    async def request(self, request_id: RequestId, body: bytes, headers: Mapping[str, str] | None = None) -> Reply:
        self.status = None
        async with self._http.post(self.url, data=body, headers=self._headers(headers)) as resp:
            status = self.status = resp.status
            if not 200 <= status < 300:
                raise await status_failure(resp, request_id)
            if status == 202:
                raise protocol_error("202 Accepted with no response to a request", http_status=status)
            session_id = resp.headers.get(SESSION_HEADER)
            ctype = resp.content_type
            if ctype == "application/json":
                data = await read_body(resp, self._settings.max_response_bytes)
                message = decode(data, "JSON response")
                if isinstance(message, list):  # a batch answer (2025-03-26): take ours
                    message = next((m for m in message if is_response(m) and same_id(m.get("id"), request_id)), None)
                    if message is None:
                        raise protocol_error("batch response holds no answer to our request", http_status=status)
                return Reply(message, status, 0, len(data), session_id, "json")
            if ctype == "text/event-stream":
                return await self._read_stream(resp, request_id, session_id)
            data = await read_body(resp, 64 * 1024)
            raise protocol_error(
                f"unexpected Content-Type {ctype or '(none)'!r} for a response: {body_excerpt(data, ctype)}",
                http_status=status,
            )

    async def _read_stream(self, resp: aiohttp.ClientResponse, request_id: RequestId, session_id: str | None) -> Reply:
        parser = SSEParser(self._settings.max_response_bytes)
        cap = self._settings.max_response_bytes
        total = 0
        seen = 0
        try:
            while chunk := await resp.content.readany():
                total += len(chunk)
                if total > cap:
                    raise protocol_error(
                        f"SSE stream exceeds the {cap}-byte limit before the response", http_status=200
                    )
                for event in parser.feed(chunk):
                    if not event.data:  # priming event: an id and empty data
                        continue
                    message = decode(event.data, "SSE event")
                    if is_response(message):
                        await self._finish(resp)
                        return Reply(message, resp.status, seen, total, session_id, "sse")
                    if not (is_request(message) or is_notification(message)):
                        raise protocol_error("SSE event holds no JSON-RPC message", http_status=200)
                    seen += 1
                    if self.on_server_message is not None:
                        self.on_server_message(message)
        except SSEError as exc:
            raise protocol_error(str(exc), http_status=200) from None
        where = f" after {seen} server message(s)" if seen else ""
        if parser.partial:
            raise protocol_error(f"SSE stream cut mid-event{where}, before the response", http_status=200)
        raise protocol_error(f"SSE stream ended{where} without the response", http_status=200)

    async def _finish(self, resp: aiohttp.ClientResponse) -> None:
        """Let the server end the stream so the connection is reused; close it if it lingers."""
        if resp.content.at_eof() or self._drain <= 0:
            return
        try:
            async with asyncio.timeout(self._drain):
                while await resp.content.readany():
                    pass
        except TimeoutError:
            self._drain = 0.0  # this server keeps streams open: stop waiting on it
            resp.close()
        except (aiohttp.ClientError, OSError):
            resp.close()

    async def notify(self, body: bytes, headers: Mapping[str, str] | None = None) -> int:
        self.status = None
        async with self._http.post(self.url, data=body, headers=self._headers(headers)) as resp:
            self.status = resp.status
            if not 200 <= resp.status < 300:
                raise await status_failure(resp, None)
            if resp.status != 202:
                raise protocol_error(
                    f"expected 202 Accepted for a notification, got {resp.status}", http_status=resp.status
                )
            return resp.status

    async def close(self) -> int | None:
        if self.session_id is None:
            return None
        headers = self._headers(None)
        del headers["Content-Type"]
        self.status = None
        async with self._http.delete(self.url, headers=headers) as resp:
            status = self.status = resp.status
            self.session_id = None
            if 200 <= status < 300 or status == 405:  # 405: the server does not let clients end sessions
                return status
            raise await status_failure(resp, None)
