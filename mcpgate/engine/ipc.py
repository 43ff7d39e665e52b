"""Frames between the coordinator and its workers: a 4-byte length, then the bytes.

Every frame is JSON (orjson) except the first one the coordinator sends, which
is the pickled ``WorkerSpec``: the two ends are the same program, started
together, over a socket pair no one else holds.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import orjson

_LENGTH = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024


class ChannelClosed(Exception):
    """The other end is gone (it exited, or closed its socket)."""


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    try:
        head = await reader.readexactly(_LENGTH.size)
        (size,) = _LENGTH.unpack(head)
        if size > MAX_FRAME:
            raise ChannelClosed(f"a {size}-byte frame is not ours")
        return await reader.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise ChannelClosed(str(exc) or type(exc).__name__) from None


async def read_message(reader: asyncio.StreamReader) -> dict[str, Any]:
    message = orjson.loads(await read_frame(reader))
    if not isinstance(message, dict):
        raise ChannelClosed("a frame that is not a message")
    return message


def write_frame(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(_LENGTH.pack(len(data)) + data)


def write_message(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    write_frame(writer, orjson.dumps(message))
