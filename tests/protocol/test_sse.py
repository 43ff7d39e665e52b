"""The SSE parser on the byte sequences real servers send, fed whole and one byte at a time."""

from __future__ import annotations

import pytest

from mcpgate.protocol.sse import SSEError, SSEEvent, SSEParser


def parse(stream: bytes, step: int | None = None) -> tuple[list[SSEEvent], SSEParser]:
    parser = SSEParser()
    if step is None:
        return parser.feed(stream), parser
    events: list[SSEEvent] = []
    for i in range(0, len(stream), step):
        events += parser.feed(stream[i : i + step])
    return events, parser


PYTHON_SDK = b'event: message\r\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\r\n\r\n'
TYPESCRIPT_SDK = b'id: 7f3c\ndata: \n\nevent: message\nid: 8a1d\ndata: {"id":2}\n\n'
LEGACY = b"event: endpoint\r\ndata: /messages/?session_id=ab12\r\n\r\n: ping - 2026-11-26 01:00:00\r\n\r\n"


@pytest.mark.parametrize("step", [None, 1, 2, 3, 7])
def test_python_sdk_framing(step: int | None) -> None:
    events, parser = parse(PYTHON_SDK, step)
    assert events == [SSEEvent("message", b'{"jsonrpc":"2.0","id":1,"result":{}}')]
    assert not parser.partial


@pytest.mark.parametrize("step", [None, 1, 5])
def test_typescript_priming_event_and_ids(step: int | None) -> None:
    events, parser = parse(TYPESCRIPT_SDK, step)
    assert events == [SSEEvent("message", b"", "7f3c"), SSEEvent("message", b'{"id":2}', "8a1d")]
    assert parser.last_event_id == "8a1d"


@pytest.mark.parametrize("step", [None, 1])
def test_endpoint_event_and_comment(step: int | None) -> None:
    events, parser = parse(LEGACY, step)
    assert events == [SSEEvent("endpoint", b"/messages/?session_id=ab12")]
    assert not parser.partial


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n\r") == [SSEEvent("message", b"a")]
    assert parser.feed(b"\ndata: b\r\r") == [SSEEvent("message", b"b")]


def test_lone_cr_line_endings() -> None:
    events, _ = parse(b"event: x\rdata: 1\r\r")
    assert events == [SSEEvent("x", b"1")]


def test_multiline_data_and_field_without_space() -> None:
    events, _ = parse(b"data:line1\ndata: line2\nretry: 1500\nunknown: x\n\n")
    assert events == [SSEEvent("message", b"line1\nline2", retry=1500)]


def test_events_without_data_are_not_dispatched() -> None:
    events, parser = parse(b"event: nothing\n\nid: 5\n\n")
    assert events == []
    assert parser.last_event_id == "5"


def test_cut_mid_event_is_visible() -> None:
    events, parser = parse(b'event: message\ndata: {"id": 1')
    assert events == []
    assert parser.partial
    events, parser = parse(b"event: message\ndata: {}\n")
    assert events == []
    assert parser.partial  # the blank line that ends the event never came


def test_line_longer_than_the_bound_is_an_error() -> None:
    parser = SSEParser(max_event=16)
    with pytest.raises(SSEError, match="exceeds 16 bytes"):
        parser.feed(b"data: " + b"x" * 64)


def test_event_larger_than_the_bound_is_an_error() -> None:
    parser = SSEParser(max_event=1000)
    for _ in range(10):
        parser.feed(b"data: " + b"x" * 100 + b"\n")
    with pytest.raises(SSEError, match="an SSE event exceeds 1000 bytes"):
        parser.feed(b"data: " + b"x" * 100 + b"\n")


def test_large_event_in_small_chunks_is_linear() -> None:
    # 4 MiB in 16 KiB chunks: the parser must not rescan what it already holds.
    payload = b"data: " + b"y" * (4 * 1024 * 1024) + b"\r\n\r\n"
    parser = SSEParser()
    events: list[SSEEvent] = []
    for i in range(0, len(payload), 16384):
        events += parser.feed(payload[i : i + 16384])
    assert len(events) == 1
    assert len(events[0].data) == 4 * 1024 * 1024


def test_retry_and_last_event_id_are_kept_for_resumption() -> None:
    parser = SSEParser()
    assert parser.feed(b"id: ev-1\nretry: 250\ndata: \n\n") == [SSEEvent("message", b"", "ev-1", 250)]
    assert (parser.last_event_id, parser.retry) == ("ev-1", 250)


def test_non_utf8_event_name_is_an_error() -> None:
    with pytest.raises(SSEError, match="not valid UTF-8"):
        SSEParser().feed(b"event: \xff\n\n")
