"""Modules loaded on first use: only for libraries that cost every process a noticeable start.

aiohttp (with the JWT signer) takes 0.2-0.4 s to import, and every CLI verb and every worker
is a new interpreter, while only ``mcpgate monitor`` and OAuth token requests need it. Their
network halves are loaded through ``load``, by name, when first used; everything else imports
as usual, at the top of its module.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def load(name: str) -> ModuleType:
    """The module ``name`` (``mcpgate.…``), imported now if it is not already."""
    return importlib.import_module(name)
