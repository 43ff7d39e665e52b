"""The wire client as the transports use it, for the conformance cases: one POST, what came back."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from mcpgate.protocol.http import HttpSettings, classify_exception, read_body
from mcpgate.protocol.outcome import Failure, Kind
from mcpgate.protocol.wire.errors import WireError
from mcpgate.protocol.wire.pool import Pool

SETTINGS = HttpSettings(timeout=5.0)
CAP = 8 * 1024 * 1024


@dataclass
class Got:
    """A whole response, or the one failure the transports would name."""

    status: int = 0
    headers: dict[str, str] | None = None
    body: bytes = b""
    kind: Kind | None = None
    reason: str = ""
    http_status: int | None = None

    @property
    def ok(self) -> bool:
        return self.kind is None


async def post(pool: Pool, url: str, *, within: float = SETTINGS.timeout) -> Got:
    """One request through ``pool``, its body read to the end (decoded), or its failure."""
    deadline = asyncio.get_running_loop().time() + within
    status = None
    try:
        async with pool.post(url, data=b'{"jsonrpc":"2.0","id":1,"method":"ping"}', deadline=deadline) as resp:
            status = resp.status
            body = await read_body(resp, CAP)
            return Got(resp.status, dict(resp.headers.items()), body)
    except (WireError, OSError, Failure) as exc:
        failure = classify_exception(exc, SETTINGS)
        if status is not None:
            failure = failure.with_status(status)
        out = failure.outcome
        return Got(kind=out.kind, reason=out.reason, http_status=out.http_status)


async def post_once(url: str, *, within: float = SETTINGS.timeout) -> Got:
    async with Pool() as pool:
        return await post(pool, url, within=within)
