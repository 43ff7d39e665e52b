"""Results files on disk: written atomically, read back with a check of their schema."""

from __future__ import annotations

from pathlib import Path

import orjson

from mcpgate.results.schema import SCHEMA, Results


def write(results: Results, path: Path) -> None:
    """Write atomically: a reader never sees half a file, even if the run is killed meanwhile."""
    data = orjson.dumps(results.model_dump(mode="json", by_alias=True), option=orjson.OPT_INDENT_2)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data + b"\n")
    tmp.replace(path)


def read(path: Path) -> Results:
    data = orjson.loads(path.read_bytes())
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"not an mcpgate results file (schema {found!r}, expected {SCHEMA!r})")
    return Results.model_validate(data)
