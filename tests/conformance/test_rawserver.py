"""The raw server itself: what the conformance cases rely on."""

from __future__ import annotations

import socket

from tests.conformance.rawserver import RawConn, response, serving


async def _echo_once(conn: RawConn) -> None:
    req = await conn.request()
    assert req is not None
    conn.send(response(200, req.body, "Content-Type: text/plain"))


def test_a_case_answers_with_exactly_its_bytes_and_the_request_is_recorded() -> None:
    with serving(_echo_once) as server, socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
        got = b""
        while not got.endswith(b"hi"):
            got += s.recv(4096)
    assert got.startswith(b"HTTP/1.1 200 OK\r\n")
    assert server.requests[0].method == "POST"
    assert server.requests[0].body == b"hi"
