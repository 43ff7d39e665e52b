"""A status API that breaks HTTP itself: each fault is one clear line in the monitor's report.

Served by our own raw-socket server, so the bytes on the wire are exactly the fault's; the
lines read as the wire client's do for the same fault (``protocol.http.classify_exception``).
"""

from __future__ import annotations

import pytest

from mcpgate.app.postdeploy.monitor import MAX_BODY, MonitorSpec, run_monitor
from tests.conformance.rawserver import Case, RawConn, response, serving

TOKEN = "alive-fault-token-93b0"


def once(url: str) -> MonitorSpec:
    """One poll, with a second to take."""
    return MonitorSpec(url, TOKEN, interval=2, timeout=1.5, request_timeout=1)


async def closes(conn: RawConn) -> None:
    await conn.request()
    conn.close()


async def cut_off(conn: RawConn) -> None:
    await conn.request()
    conn.send(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"status":')
    await conn.pause()


async def not_http(conn: RawConn) -> None:
    await conn.request()
    conn.send(b"SURPRISE nothing here\r\n\r\n")
    await conn.pause()


async def false_gzip(conn: RawConn) -> None:
    await conn.request()
    conn.send(response(200, b'{"status": "up"}', "Content-Type: application/json", "Content-Encoding: gzip"))
    await conn.pause()


async def too_big(conn: RawConn) -> None:
    await conn.request()
    conn.send(response(200, b'{"status": "' + b"u" * MAX_BODY + b'"}', "Content-Type: application/json"))
    await conn.pause(0.2)


async def plain_http(conn: RawConn) -> None:
    """What a plain-HTTP server does with a TLS hello: a 400, then it hangs up."""
    await conn.reader.read(5)
    conn.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    await conn.pause(0.02)


@pytest.mark.parametrize(
    ("case", "status", "note"),
    [
        (closes, None, "server closed the connection before responding"),
        (cut_off, 200, "response cut off: connection closed mid-response"),
        (not_http, None, "unusable response: Bad status line: "),
        (false_gzip, 200, "invalid compressed body: it is not the Content-Encoding the response names"),
        (too_big, 200, f"HTTP 200 but the body is larger than {MAX_BODY} bytes"),
    ],
)
async def test_a_broken_answer_is_one_line(case: Case, status: int | None, note: str) -> None:
    with serving(case) as server:
        report = await run_monitor(
            MonitorSpec(server.url("/status"), TOKEN, interval=2, timeout=1.5, request_timeout=1)
        )
        assert server.requests[0].header("Authorization") == f"Bearer {TOKEN}"
    assert not report.ok
    assert report.polls == 1
    poll = report.history[0]
    assert poll.http_status == status
    assert poll.note.startswith(note)
    assert "\n" not in poll.note
    assert len(poll.note) <= 160
    assert TOKEN not in poll.note


async def test_tls_to_a_plain_http_server() -> None:
    with serving(plain_http) as server:
        url = server.url("/status").replace("http://", "https://")
        report = await run_monitor(once(url))
    assert report.history[0].http_status is None
    assert report.history[0].note.startswith("TLS handshake failed: ")


async def test_a_request_cut_short_by_the_deadline_reads_well() -> None:
    async def silent(conn: RawConn) -> None:
        await conn.request()
        await conn.pause(1.0)

    with serving(silent) as server:
        report = await run_monitor(
            MonitorSpec(server.url("/status"), TOKEN, interval=1, timeout=0.2, request_timeout=1)
        )
    assert report.history[0].note.startswith("no response within 0.")
    seconds = report.history[0].note.removeprefix("no response within ").removesuffix("s")
    assert len(seconds.partition(".")[2]) <= 3  # rounded to the millisecond, not 0.1999871s
