"""Protocol versions mcpgate speaks, grouped by era.

Versions up to 2025-11-25 open a session with the ``initialize`` handshake;
2026-07-28 is stateless: no handshake, ``server/discover`` and per-request
``_meta``. The legacy HTTP+SSE transport belongs to 2024-11-05 but, like the
official clients, we ask for the newest handshake version over it too.
"""

from typing import Final

HANDSHAKE_VERSIONS: Final = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
MODERN_VERSIONS: Final = ("2026-07-28",)
KNOWN_VERSIONS: Final = HANDSHAKE_VERSIONS + MODERN_VERSIONS
LATEST_HANDSHAKE: Final = HANDSHAKE_VERSIONS[-1]
LATEST_MODERN: Final = MODERN_VERSIONS[-1]

# The MCP-Protocol-Version header exists from 2025-06-18 on; sending it for the
# older handshake versions is harmless and what the official clients do.
AUTO: Final = "auto"


def is_modern(version: str) -> bool:
    return version in MODERN_VERSIONS
