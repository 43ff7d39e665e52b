"""Which config values are credentials, so that no error message can repeat one."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mcpgate.support.redact import Redactor

SECRET_KEY = re.compile(r"token|secret|passw|auth|api[-_]?key|credential|cookie", re.IGNORECASE)
"""A key whose value is a credential: its value is masked wherever a message would show it."""


def redactor(data: Any) -> Redactor:
    """Every value under a credential-like key, so no message can carry one by accident."""
    redact = Redactor()
    stack: list[Any] = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            for key, value in node.items():
                if isinstance(value, str):
                    if isinstance(key, str) and SECRET_KEY.search(key):
                        redact.add(value)
                        redact.add(value.partition(" ")[2].strip())
                    elif key == "url":
                        try:
                            redact.add_url(value)
                        except ValueError:  # not a URL urlsplit reads (a stray ']'): mask any user info whole
                            redact.add(value.partition("//")[2].rpartition("@")[0])
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return redact
