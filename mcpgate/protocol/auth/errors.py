"""Why no token could be had: kept apart from the network code, which loads only when it is used."""


class DiscoveryError(Exception):
    """No token endpoint could be found; the message says where mcpgate looked."""


class TokenError(Exception):
    """The authorization server gave no token; the message says what it answered."""
