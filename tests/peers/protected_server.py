"""A protected MCP server for the tests: read-only tools behind OAuth, on the official SDK.

Tokens are JWTs the authorization server signed; they are checked against its JWKS with
their expiry, so a token that ran out is answered with 401 and ``resource_metadata``.

    python tests/peers/protected_server.py --port P --issuer http://127.0.0.1:A [--log FILE]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import jwt
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations


class JwksVerifier:
    """A bearer JWT's signature and expiry, checked against the authorization server's keys."""

    def __init__(self, issuer: str, log: str | None) -> None:
        self._keys = jwt.PyJWKClient(f"{issuer}/jwks", cache_keys=True)
        self._log = log

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            key = self._keys.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(token, key.key, algorithms=["RS256"], options={"verify_aud": False})
        except jwt.PyJWTError:
            return None
        if self._log:
            _note(self._log, {"client": claims.get("client_id"), "sub": claims.get("sub")})
        scopes = str(claims.get("scope") or "").split()
        client = str(claims.get("client_id") or claims.get("sub") or "unknown")
        return AccessToken(token=token, client_id=client, scopes=scopes, expires_at=claims.get("exp"))


def _note(path: str, line: dict[str, Any]) -> None:
    with open(path, "a") as out:  # a line, locally: quicker than a thread would be
        out.write(json.dumps(line) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--issuer", required=True)
    p.add_argument("--log", help="a JSON line per accepted token")
    p.add_argument("--transport", choices=["streamable-http", "sse"], default="streamable-http")
    args = p.parse_args()
    base = f"http://127.0.0.1:{args.port}"
    path = "/sse" if args.transport == "sse" else "/mcp"
    settings = AuthSettings(issuer_url=args.issuer, resource_server_url=base + path, validate_token_resource=False)
    app: MCPServer[Any] = MCPServer(
        "mcpgate-protected", version="1.0.0", token_verifier=JwksVerifier(args.issuer, args.log), auth=settings
    )

    @app.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
    def get_record(id: str) -> dict[str, str]:
        """Read one record by id (e.g. rec_42)."""
        return {"id": id, "title": f"Record {id}"}

    if args.transport == "sse":
        app.run("sse", host="127.0.0.1", port=args.port)
    else:
        app.run("streamable-http", host="127.0.0.1", port=args.port, streamable_http_path="/mcp")


if __name__ == "__main__":
    main()
