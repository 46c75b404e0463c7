import pytest

from remediator.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30), ("15m", 900), ("1h30m", 5400), ("2d", 172800), ("45", 45), (1.5, 1.5)],
)
def test_parse(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "m15", "15x", "1h 30m", "-5s", -1, True])
def test_parse_rejects_with_the_text(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (900, "15m"),
        (5400, "1h30m"),
        (2.5, "2.5s"),
        (0.2, "200ms"),
        (4.53049, "4.5s"),
        (130.4, "2m10s"),
        (42.04, "42s"),
        (59.97, "1m"),
        (0.0045, "4.5ms"),
        (0.4535, "454ms"),
        (0.99996, "1s"),
        (90061, "1d1h1m1s"),
        (0, "0s"),
    ],
)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
