"""The sizes the house allows, measured: functions and modules in mcpgate/, longest first."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mcpgate"
MAX_FUNCTION_LINES = 50
MAX_MODULE_LINES = 400


@dataclass(frozen=True, order=True)
class Size:
    lines: int
    where: str  # "mcpgate/app/run.py" or "mcpgate/app/run.py:42 run_plan"


def _modules() -> list[tuple[Path, str]]:
    return [(path, path.read_text(encoding="utf-8")) for path in sorted(PACKAGE.rglob("*.py"))]


def _shown(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def functions() -> list[Size]:
    """Every function and method, from its ``def`` line to its last line."""
    found = []
    for path, text in _modules():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno is not None:
                lines = node.end_lineno - node.lineno + 1
                found.append(Size(lines, f"{_shown(path)}:{node.lineno} {node.name}"))
    return sorted(found, reverse=True)


def modules() -> list[Size]:
    return sorted((Size(len(text.splitlines()), _shown(path)) for path, text in _modules()), reverse=True)


def imports_in_functions() -> list[str]:
    """Imports of our own modules inside a function: the sign of a cycle being dodged."""
    found = []
    for path, text in _modules():
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith("mcpgate"):
                    found.append(f"{_shown(path)}:{inner.lineno} {inner.module}")
    return found


def summary(count: int = 3) -> list[str]:
    """The longest functions and modules, for the end of a test run."""
    longest = ", ".join(f"{s.where} ({s.lines})" for s in functions()[:count])
    biggest = ", ".join(f"{s.where} ({s.lines})" for s in modules()[:count])
    return [
        f"longest functions (at most {MAX_FUNCTION_LINES} lines): {longest}",
        f"longest modules (at most {MAX_MODULE_LINES} lines): {biggest}",
    ]
