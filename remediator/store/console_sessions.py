"""Console login sessions, kept in the journal so that a restart (or another replica) keeps people
logged in. Only a digest of the session token is stored: whoever reads the journal cannot log in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleSession:
    digest: str
    """SHA-256 (hex) of the session token the browser holds in its cookie."""
    name: str
    """The API token's name (what the audit trail records) and its scope, as at login."""
    scope: str
    created_at: datetime
    last_seen: datetime


COLUMNS = "digest, name, scope, created_at, last_seen"
"""What both back-ends select for `session_from_row`, in its order."""


def session_from_row(r: Sequence[Any]) -> ConsoleSession:
    """A session from a row of `COLUMNS` (times stored as Unix seconds on both back-ends)."""
    return ConsoleSession(
        digest=r[0],
        name=r[1],
        scope=r[2],
        created_at=datetime.fromtimestamp(r[3], UTC),
        last_seen=datetime.fromtimestamp(r[4], UTC),
    )


class ConsoleSessionStore(Protocol):
    async def save_console_session(self, session: ConsoleSession, *, keep: int) -> None:
        """Record a new session; beyond `keep` sessions, the least recently seen ones end."""
        ...

    async def console_session(self, digest: str) -> ConsoleSession | None: ...

    async def touch_console_session(self, digest: str, at: datetime) -> None:
        """It was used at `at` (its idle expiry counts from there)."""
        ...

    async def end_console_session(self, digest: str) -> None:
        """Logged out or expired: the row goes."""
        ...
