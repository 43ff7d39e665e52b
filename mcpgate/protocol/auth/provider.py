"""Access tokens, cached and shared: one provider per set of credentials, asked by every virtual user.

A token is used until shortly before its ``expires_in`` runs out, then a new one is asked for by the
first virtual user that needs it while the others wait for the same answer. A token the MCP server
refused (401) is replaced once, unless another virtual user has replaced it already, and a token asked
for after a 401 is not replaced again within a second: a server that refuses every token gets its 401s,
not a token request for each. A failed token request is remembered for a moment, so a broken
authorization server is not asked by every user at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

from mcpgate.protocol.auth.errors import DiscoveryError, TokenError
from mcpgate.protocol.auth.grant import AuthSpec, Credentials, TokenAnswer
from mcpgate.protocol.outcome import Failure, Kind, Outcome
from mcpgate.support.lazy import load
from mcpgate.support.redact import Redactor

MAX_MARGIN = 30.0  # seconds before expiry a token is replaced, at most
FAILURE_HOLD = 1.0  # seconds a failed token request answers for itself
REFUSAL_GAP = 1.0  # seconds: a token asked for after a 401 is not replaced after another 401 sooner


class AuthMeter(Protocol):
    """What a run measures of token requests: they are not MCP traffic, so apart from it."""

    def auth_token(self, seconds: float | None, ok: bool) -> None:
        """A token request took ``seconds`` (None: none could be sent) and succeeded or not."""

    def auth_refreshed(self) -> None:
        """The MCP server refused a token (401): it was replaced and the request sent again."""


class NoAuthMeter:
    def auth_token(self, seconds: float | None, ok: bool) -> None:
        return None

    def auth_refreshed(self) -> None:
        return None


NO_AUTH_METER = NoAuthMeter()


def network() -> ModuleType:
    """The code that talks to authorization servers (``network.py``), loaded when first needed.

    aiohttp and the JWT signer take a third of a second to import, and every worker process is a
    new interpreter: a run without OAuth would pay that at each start (and the load start later).
    """
    return load("mcpgate.protocol.auth.network")


def _direct(url: str) -> str | None:
    return None


def key_algorithm(pem: str) -> str:
    """The JWS algorithm a private key signs with; ``ValueError`` says what is wrong with the key."""
    found: str = network().algorithm(pem)
    return found


def auth_failure(reason: str) -> Failure:
    return Failure(Outcome(Kind.AUTH_ERROR, reason))


@dataclass(slots=True)
class _Token:
    value: str
    refresh_at: float | None  # monotonic; None: the server gave no lifetime (replaced on a 401 only)


class AuthSource:
    """The run's OAuth settings and token endpoint, and a provider for each set of credentials.

    Pickled for a worker process as its settings only: each process asks for its own tokens.
    """

    def __init__(self, spec: AuthSpec, redact: Redactor) -> None:
        self.spec = spec
        self.redact = redact
        self.tenants: tuple[Credentials, ...] = ()  # each VU's own credentials, by VU number
        self._providers: dict[Credentials, TokenProvider] = {}
        self._endpoint: str | None = spec.token_url
        self._finding: asyncio.Future[str] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec, "redact": self.redact, "tenants": self.tenants}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["spec"], state["redact"])  # type: ignore[misc]
        self.tenants = state["tenants"]

    def for_vu(self, number: int) -> TokenProvider:
        """VU ``number``'s provider (from 1): its tenant's, row by VU number, or the spec's own."""
        tenants = self.tenants
        return self.provider(tenants[(number - 1) % len(tenants)] if tenants else None)

    def provider(self, credentials: Credentials | None = None) -> TokenProvider:
        """The provider for these credentials (when None: the first tenant's, or the spec's own), made once."""
        key = credentials or (self.tenants[0] if self.tenants else self.spec.credentials)
        found = self._providers.get(key)
        if found is None:
            for secret in (key.client_secret, key.refresh_token):
                self.redact.add(secret)
            found = self._providers[key] = TokenProvider(self, key)
        return found

    async def endpoint(self) -> str:
        """The token endpoint: given, or discovered once for every provider."""
        if self._endpoint is not None:
            return self._endpoint
        if self._finding is None or self._finding.done():
            self._finding = asyncio.ensure_future(self._discover())
            self._finding.add_done_callback(_retrieved)
        return await asyncio.shield(self._finding)

    async def _discover(self) -> str:
        spec = self.spec
        try:
            async with self.web() as http:
                self._endpoint = await network().token_endpoint(http, spec.mcp_url)
        except DiscoveryError as exc:
            raise auth_failure(f"OAuth discovery failed: {exc}") from None
        return self._endpoint

    def web(self) -> Any:
        spec = self.spec
        route = spec.proxy.url_for if spec.proxy is not None else _direct
        return network().routed_session(
            route, timeout=spec.timeout, connect_timeout=spec.connect_timeout, tls=spec.tls, limit=4
        )


class TokenProvider:
    """One client's access token, shared by the virtual users that act as that client."""

    def __init__(self, source: AuthSource, credentials: Credentials) -> None:
        self._source = source
        self._credentials = credentials
        self._refresh_token = credentials.refresh_token
        self._token: _Token | None = None
        self._fetching: asyncio.Future[str] | None = None
        self._failed: tuple[Failure, float] | None = None
        self._after_refusal: tuple[str, float] | None = None  # the token asked for after a 401, and when

    def fresh(self) -> str | None:
        """The cached token while it is good to send; None when a new one is due."""
        token = self._token
        if token is None or (token.refresh_at is not None and time.monotonic() >= token.refresh_at):
            return None
        return token.value

    async def token(self, meter: AuthMeter = NO_AUTH_METER, *, refused: str | None = None) -> str:
        """A token to send. ``refused``: the token the MCP server just answered 401 to."""
        current = self.fresh()
        if current is not None and current != refused:
            return current
        last = self._after_refusal
        if refused is not None and last is not None and last[0] == refused and time.monotonic() < last[1] + REFUSAL_GAP:
            return refused  # just replaced, and refused again: the server's answer stands
        if self._failed is not None and time.monotonic() < self._failed[1] + FAILURE_HOLD:
            raise self._failed[0].fresh()
        if self._fetching is None or self._fetching.done():
            self._fetching = asyncio.ensure_future(self._fetch(meter) if refused is None else self._replace(meter))
            self._fetching.add_done_callback(_retrieved)
        return await asyncio.shield(self._fetching)

    async def _replace(self, meter: AuthMeter) -> str:
        token = await self._fetch(meter)
        self._after_refusal = (token, time.monotonic())
        return token

    async def _fetch(self, meter: AuthMeter) -> str:
        source = self._source
        try:
            endpoint = await source.endpoint()
        except Failure as failure:
            meter.auth_token(None, False)
            self._failed = (failure, time.monotonic())
            raise
        started, t0 = time.monotonic(), time.perf_counter()
        try:
            async with source.web() as http:
                fetch = network().request_token
                answer: TokenAnswer = await fetch(http, endpoint, source.spec, self._credentials, self._refresh_token)
        except TokenError as exc:
            meter.auth_token(time.perf_counter() - t0, False)
            refused = auth_failure(str(exc))
            self._failed = (refused, time.monotonic())
            raise refused from None
        meter.auth_token(time.perf_counter() - t0, True)
        self._failed = None
        source.redact.add(answer.access_token)
        if answer.refresh_token is not None:
            source.redact.add(answer.refresh_token)
            self._refresh_token = answer.refresh_token  # rotated: the old one may be spent
        lifetime = answer.expires_in
        refresh_at = None if lifetime is None else started + lifetime - min(MAX_MARGIN, lifetime / 5)
        self._token = _Token(answer.access_token, refresh_at)
        return answer.access_token


def _retrieved(future: asyncio.Future[str]) -> None:
    """Every waiter may have gone (cancelled): the future's failure is still taken, never logged."""
    with contextlib.suppress(BaseException):
        future.exception()
