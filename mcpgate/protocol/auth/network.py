"""Everything that talks to an authorization server, with the libraries that does: aiohttp and a JWT
signer. ``provider`` loads this module with the first token a process needs (see ``provider.network``)."""

from mcpgate.protocol.auth.assertion import algorithm
from mcpgate.protocol.auth.discovery import token_endpoint
from mcpgate.protocol.auth.token import request_token
from mcpgate.support.web import routed_session

__all__ = ["algorithm", "request_token", "routed_session", "token_endpoint"]
