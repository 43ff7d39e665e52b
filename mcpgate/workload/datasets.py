"""Rows a tool call can take its arguments from: CSV, JSON or JSONL files, and who gets which row.

A dataset is loaded once, when the plan is built, so a bad file fails before any traffic and every
problem names the file and, when it can, the line.
"""

from __future__ import annotations

import csv
import io
import itertools
import random
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from mcpgate.support.errors import UsageError
from mcpgate.support.jsonvalues import kind

MAX_DATASET_BYTES = 256 * 1024 * 1024
_FORMATS = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


def load_dataset(path: Path, fmt: str = "auto", where: str = "datasets.x") -> list[dict[str, Any]]:
    """Rows from a JSON array of objects, JSONL (an object a line) or CSV with a header row.

    Every problem is a ``UsageError`` "where: FILE[:LINE]: ..."; CSV values stay strings.
    """
    source = str(path)
    kind = fmt if fmt != "auto" else _FORMATS.get(path.suffix.lower())
    if kind not in ("json", "jsonl", "csv"):
        if fmt != "auto":
            raise UsageError(where, f"format must be auto, json, jsonl or csv, got {fmt!r}")
        raise UsageError(where, f"{source}: cannot tell the format from the name; set format: json, jsonl or csv")
    text = _read_dataset(path, source, where)
    if kind == "json":
        rows = _json_rows(text, source, where)
    elif kind == "jsonl":
        rows = _jsonl_rows(text, source, where)
    else:
        rows = _csv_rows(text, source, where)
    if not rows:
        raise UsageError(where, f"{source}: has no rows")
    return rows


def _read_dataset(path: Path, source: str, where: str) -> str:
    try:
        if path.is_dir():
            raise UsageError(where, f"{source}: is a directory, not a data file")
        with path.open("rb") as handle:
            raw = handle.read(MAX_DATASET_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(where, f"{source}: no such file") from None
    except OSError as exc:
        raise UsageError(where, f"{source}: cannot read it ({exc.strerror or exc})") from None
    except ValueError:  # a NUL in the name
        raise UsageError(where, f"{source}: not a valid file name") from None
    if len(raw) > MAX_DATASET_BYTES:
        raise UsageError(where, f"{source}: is larger than 256 MiB")
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UsageError(where, f"{source}:{line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x})") from None


def _json_rows(text: str, source: str, where: str) -> list[dict[str, Any]]:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise UsageError(where, f"{source}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise UsageError(where, f"{source}: must be a JSON array of objects, got {kind(data)}")
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise UsageError(where, f"{source}: item {index + 1} is {kind(item)}, not an object")
    return data


def _jsonl_rows(text: str, source: str, where: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines: U+2028 may sit in a string
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise UsageError(where, f"{source}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(item, dict):
            raise UsageError(where, f"{source}:{number}: each line must be a JSON object, got {kind(item)}")
        rows.append(item)
    return rows


def _csv_rows(text: str, source: str, where: str) -> list[dict[str, Any]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header or not any(name.strip() for name in header):
            raise UsageError(where, f"{source}:1: the first line must be a header row naming the columns")
        if not all(name.strip() for name in header):
            raise UsageError(where, f"{source}:1: the header has an empty column name")
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            raise UsageError(where, f"{source}:1: the header names {duplicates[0]!r} twice")
        rows: list[dict[str, Any]] = []
        for record in reader:
            if not record:
                continue
            if len(record) != len(header):
                raise UsageError(
                    where,
                    f"{source}:{reader.line_num}: has {len(record)} fields, the header has {len(header)}",
                )
            rows.append(dict(zip(header, record, strict=True)))
    except csv.Error as exc:
        raise UsageError(where, f"{source}:{reader.line_num}: not valid CSV ({exc})") from None
    return rows


class RowPicker:
    """Which dataset row a call gets.

    ``vu``: row ``(iteration * stride + vu - 1) % len`` with stride = the run's max VUs, so no
    two VUs share a row until the data wraps; ``sequential``: a shared counter, each call the next
    row (worker ``k`` of ``n`` processes counts k, k + n, k + 2n, ...); ``random``: ``rng.choice``.
    """

    __slots__ = ("_counter", "_order", "_rows", "_stride")

    def __init__(
        self, rows: Sequence[Mapping[str, Any]], order: str, stride: int, *, worker: tuple[int, int] = (0, 1)
    ) -> None:
        if not rows:
            raise ValueError("a RowPicker needs at least one row")
        if order not in ("vu", "sequential", "random"):
            raise ValueError(f"unknown row order {order!r}")
        self._rows = rows
        self._order = order
        self._stride = max(1, stride)
        self._counter: Iterator[int] = itertools.count(worker[0], worker[1])

    def pick(self, vu: int, iteration: int, rng: random.Random) -> Mapping[str, Any]:
        if self._order == "vu":
            return self._rows[(iteration * self._stride + vu - 1) % len(self._rows)]
        if self._order == "sequential":
            return self._rows[next(self._counter) % len(self._rows)]
        return rng.choice(self._rows)

    @property
    def first(self) -> Mapping[str, Any]:
        """A row to try a template with, without taking one from the sequence."""
        return self._rows[0]
