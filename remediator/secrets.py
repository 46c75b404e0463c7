"""Secrets as a type: a configured token, signing secret, routing key or webhook URL.

A `Secret` prints as `Secret('<redacted>')` wherever it ends up (repr, str, f-strings, a traceback's
locals, a dataclass repr), compares in constant time, and refuses to be pickled. Its value is read
only through `reveal()`, at the point of use (an HMAC, a header, a request URL).

Every value ever wrapped is also remembered here, so the log renderer (logs.py) can mask it in any
line, whatever path it took to get there (an exception message quoting a header, a library's debug
line): the guarantee "no configured secret is ever logged" does not depend on each call site.
"""

from __future__ import annotations

import hmac
import json
from typing import Any, NoReturn, final

REDACTED = "<redacted>"
MIN_MASKED_LENGTH = 8
"""Shorter values are not masked in log lines (masking `abc` everywhere would garble the log); such a
secret is too weak anyway, and the daemon warns about it at start-up."""
_KNOWN: dict[str, tuple[str, ...]] = {}
"""Every secret value wrapped in this process -> the spellings a log line could show it in."""


def _spellings(value: str) -> tuple[str, ...]:
    forms = {value, json.dumps(value)[1:-1], repr(value)[1:-1], json.dumps(repr(value)[1:-1])[1:-1]}
    return tuple(sorted((f for f in forms if f), key=len, reverse=True))


@final
class Secret:
    """A secret string. Never equal to a plain string; `matches` compares one in constant time."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value:
            raise ValueError("a secret cannot be empty")
        self._value = value
        if len(value) >= MIN_MASKED_LENGTH:
            _KNOWN.setdefault(value, _spellings(value))

    @property
    def weak(self) -> bool:
        """Too short to be masked in logs (and to resist guessing)."""
        return len(self._value) < MIN_MASKED_LENGTH

    def reveal(self) -> str:
        """The value itself, for the one place that needs it (never for a log line or a message)."""
        return self._value

    def matches(self, provided: str | bytes | None) -> bool:
        """Constant-time comparison with what a client sent."""
        if provided is None:
            return False
        given = provided.encode("utf-8", "surrogateescape") if isinstance(provided, str) else provided
        return hmac.compare_digest(given, self._value.encode("utf-8", "surrogateescape"))

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(
            other._value.encode("utf-8", "surrogateescape"), self._value.encode("utf-8", "surrogateescape")
        )

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __copy__(self) -> Secret:
        return self


def redact(text: str) -> str:
    """`text` with every known secret value (in every spelling a log line uses) masked."""
    for spellings in _KNOWN.values():
        for form in spellings:
            if form in text:
                text = text.replace(form, REDACTED)
    return text


def known_secret_count() -> int:
    return len(_KNOWN)
