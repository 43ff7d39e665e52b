"""--start-at: an instant every shard reads the same, within bounds that catch mistakes."""

from __future__ import annotations

import re

import pytest

from mcpgate.support.startat import MAX_AHEAD, MAX_LATE, iso, parse_start_at

NOW = 1_795_651_200.0  # 2026-11-26T00:00:00Z


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T00:01:00Z", NOW + 60),
        ("2026-11-26T01:01:00+01:00", NOW + 60),
        ("2026-11-25T19:01:00-05:00", NOW + 60),
        ("2026-11-26T00:00:30.250Z", NOW + 30.25),
        ("2026-11-26 00:01:00+00:00", NOW + 60),
        (f"{NOW + 90:.0f}", NOW + 90),
        (f"{NOW + 1.5}", NOW + 1.5),
        ("2026-11-25T23:59:30Z", NOW - 30),  # late, but within the minute that starts at once
    ],
)
def test_one_instant_in_any_zone_or_as_unix_seconds(text: str, expected: float) -> None:
    assert parse_start_at(text, NOW) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-11-26T00:01:00", "2026-11-26T00:01:00 has no zone: add Z (UTC) or an offset such as +01:00"),
        ("tomorrow", "expected an ISO 8601 time with a zone, e.g. 2026-11-26T10:00:00Z, or unix seconds"),
        ("1e9", "expected an ISO 8601 time"),
        ("-5", "expected an ISO 8601 time"),
        ("", "expected an ISO 8601 time"),
        ("2026-11-25T23:58:00Z", "2026-11-25T23:58:00.000Z was 2m ago: a shared start must be ahead of every shard"),
        ("2026-11-27T00:00:01Z", "2026-11-27T00:00:01.000Z is 24h1s ahead; at most 24h"),
        ("999999999999", "999999999999 (unix seconds) is"),
    ],
)
def test_a_start_that_cannot_be_shared_is_one_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        parse_start_at(text, NOW)
    assert "\n" not in str(caught.value)


def test_the_bounds_are_inclusive_to_the_second() -> None:
    assert parse_start_at(f"{NOW - MAX_LATE:.0f}", NOW) == NOW - MAX_LATE
    assert parse_start_at(f"{NOW + MAX_AHEAD:.0f}", NOW) == NOW + MAX_AHEAD


def test_times_are_written_as_results_files_write_them() -> None:
    assert iso(NOW + 0.5) == "2026-11-26T00:00:00.500Z"
