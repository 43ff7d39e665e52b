from __future__ import annotations

import pytest

from mcpgate.support.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30),
        ("2m", 120),
        ("1h30m", 5400),
        ("1m30s", 90),
        ("1.5s", 1.5),
        ("10", 10),
        (" 2m ", 120),
        ("0", 0),
    ],
)
def test_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5x", "-1s", "1h 30m", "m", "30s5", "1e3s", "nan", "inf"])
def test_reject(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.25, "250ms"), (30, "30s"), (120, "2m"), (5400, "1h30m"), (1.5, "1.5s")]
)
def test_format_round_trips(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)
