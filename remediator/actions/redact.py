"""Redaction and bounds for what remediator copies out of the cluster into its journal.

Job logs and evidence (pod statuses, events, log lines) are written by applications, which print
what they should not: connection strings with passwords, bearer tokens, `password=...`. Before any
of it reaches the journal, the timeline or a postmortem, values that look like credentials are
replaced by `[REDACTED]`, and every line and list is cut to a bound, so a chatty pod cannot grow
the journal. Redaction is by pattern: it cannot know every secret, so the postmortem says the
evidence was redacted by pattern, not that it is secret-free.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[REDACTED]"
MAX_LINE_CHARS = 500

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*):[^\s@/]+@"), rf"\1:{REDACTED}@"),
    # Authorization: Bearer xyz / Basic xyz
    (re.compile(r"(?i)\b(bearer|basic)\s+[a-z0-9._~+/=-]{8,}"), rf"\1 {REDACTED}"),
    # password=..., "api_key": "...", token: ..., secret=..., PGPASSWORD=...
    (
        re.compile(
            r"(?i)([\"']?[a-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|"
            r"private[_-]?key|credentials?|auth)[a-z0-9_.-]*[\"']?\s*[:=]\s*)"
            r"(\"[^\"]*\"|'[^']*'|[^\s,;&]+)"
        ),
        rf"\1{REDACTED}",
    ),
    # AWS access key ids, JWTs, PEM private keys
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), REDACTED),
    (re.compile(r"\beyJ[a-zA-Z0-9_-]{8,}\.[a-zA-Z0-9_-]{8,}\.[a-zA-Z0-9_-]{8,}"), REDACTED),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), REDACTED),
)


def redact(text: str) -> str:
    """`text` with credential-looking values replaced. Never raises."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def clip(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """One line, at most `limit` characters, control characters (bar tab) made visible."""
    text = "".join(c if c == "\t" or c >= " " else f"\\x{ord(c):02x}" for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def last_lines(text: str | None, n: int) -> list[str]:
    """The last `n` lines of a log, redacted and clipped."""
    if not text or n <= 0:
        return []
    return [clip(redact(line)) for line in text.splitlines()[-n:]]


def redact_all(lines: Iterable[str]) -> list[str]:
    return [clip(redact(line)) for line in lines]
