"""Duration strings as SREs write them in YAML: `500ms`, `30s`, `15m`, `1h30m`, `2d`, `1s..30s` ranges.

One grammar for the settings file and the rule files, so a cooldown reads the same in both.
Exact values (`Fraction`) where thresholds compare without float noise; float seconds elsewhere.
"""

from __future__ import annotations

import re
from fractions import Fraction

UNIT_SECONDS: dict[str, Fraction] = {
    "ms": Fraction(1, 1000),
    "s": Fraction(1),
    "m": Fraction(60),
    "h": Fraction(3600),
    "d": Fraction(86400),
}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_BARE = re.compile(r"\d+(?:\.\d+)?")
_HINT = "a duration like '30s', '15m' or '1h30m'"


def parse_duration_exact(text: str) -> Fraction:
    """Exact seconds in a unit-bearing duration string (`1h30m`); no bare numbers.

    Raises ValueError naming the text.
    """
    s = text.strip()
    pos, total = 0, Fraction(0)
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += Fraction(m.group(1)) * UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        raise ValueError(f"{text!r} is not {_HINT}")
    return total


def parse_duration(value: object) -> float:
    """Seconds in `value`: a duration string, or a bare non-negative number of seconds.

    YAML hands us ints for `cooldown: 0` and strings for `cooldown: 15m`; booleans are
    rejected because `cooldown: yes` is a typo, not a duration.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not {_HINT}")
    if isinstance(value, int | float):
        if value < 0 or value != value:  # negative or NaN
            raise ValueError(f"duration {value!r} must be a non-negative number of seconds")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not {_HINT}")
    s = value.strip()
    if _BARE.fullmatch(s):
        return float(s)
    return float(parse_duration_exact(s))


def parse_duration_range(value: object) -> tuple[float, float]:
    """`MIN..MAX` (e.g. retry backoff `1s..30s`) as seconds; MIN must not exceed MAX."""
    if not isinstance(value, str) or ".." not in value:
        raise ValueError(f"{value!r} is not a range like '1s..30s'")
    low_text, _, high_text = value.partition("..")
    low, high = parse_duration(low_text), parse_duration(high_text)
    if low > high:
        raise ValueError(f"range {value!r}: minimum is greater than maximum")
    return low, high


def format_duration(seconds: float) -> str:
    """The short form people read in reasons and logs: `450ms`, `4.5s`, `42s`, `2m10s`, `1h30m`.

    Rounded for reading, not for parsing back: a tenth of a second under a minute, whole seconds
    above (a measured `4.53049` s is `4.5s`, `130.4` s is `2m10s`).
    """
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        ms = seconds * 1000
        shown = round(ms, 1) if ms < 10 else round(ms)
        if shown < 1000:
            return f"{shown:g}ms"
    if seconds < 60 and round(seconds, 1) < 60:
        return f"{round(seconds, 1):g}s"
    out, rest = "", round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out
