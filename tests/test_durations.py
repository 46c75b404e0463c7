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


@pytest.mark.parametrize(("seconds", "text"), [(900, "15m"), (5400, "1h30m"), (2.5, "2.5s"), (0.2, "200ms")])
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
