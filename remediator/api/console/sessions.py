"""Console sessions: a login with an API token, held server-side; CSRF tokens; login throttling.

The token itself never leaves the login request: the browser keeps only a random session id in a
cookie (`HttpOnly`, `SameSite=Strict`, `Secure` when served over TLS, scoped to /ui/), and the
session remembers the token's name and scope, which is what the audit trail records. Each session
has its own CSRF token, sent back in every form and compared in constant time; SameSite=Strict
already keeps the cookie off cross-site requests, the CSRF token covers what it does not (a
same-site page on another port, old browsers).

Sessions live in the journal, so a restart (or another replica) keeps people logged in: only a
SHA-256 digest of the session id is stored (reading the journal does not log anyone in), and the
CSRF token is derived from the session id, so it is never stored either. A session holds the
token's name and scope as at login, and ends when that token is no longer configured with them.
Times come from the injected clock; logging out deletes the row. Messages for the next page (flash)
stay in this process's memory: they are only a redirect's worth of state.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from remediator.api.apiauth import Caller
from remediator.api.auth import ApiCredential
from remediator.clock import Clock
from remediator.store.console_sessions import ConsoleSession, ConsoleSessionStore

COOKIE = "remediator_session"
LOGIN_COOKIE = "remediator_login"
"""Double-submit cookie of the login form: a login can only be posted from our own page."""
COOKIE_PATH = "/ui/"
SESSION_TTL_S = 12 * 3600.0
"""Absolute lifetime: a night shift, then log in again."""
IDLE_TTL_S = 4 * 3600.0
"""A session unused this long ends (a laptop left open at the office)."""
MAX_SESSIONS = 1000
"""Beyond it the least recently used session ends: a flood of logins cannot grow memory."""
LOGIN_FAILURES_PER_MINUTE = 10
"""Failed logins allowed per client address and minute; then 429 until the minute has passed."""


@dataclass(slots=True, kw_only=True)
class Session:
    id: str
    caller: Caller
    csrf: str
    flash: list[tuple[str, str]] = field(default_factory=list)
    """Messages for the next page (kind, text): what a POST did, shown after its redirect."""

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


def digest(session_id: str) -> str:
    """What the journal keys a session by: never the session id itself."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def _csrf(session_id: str) -> str:
    return hmac.new(session_id.encode(), b"remediator console csrf", hashlib.sha256).hexdigest()


TOUCH_EVERY_S = 60.0
"""A session's last use is written at most this often (not one journal write per page view)."""


class SessionStore:
    def __init__(
        self, *, clock: Clock, journal: ConsoleSessionStore, tokens: Callable[[], Iterable[ApiCredential]]
    ) -> None:
        self._clock = clock
        self._journal = journal
        self._tokens = tokens
        self._flash: OrderedDict[str, list[tuple[str, str]]] = OrderedDict()
        self._failures: dict[str, deque[float]] = {}

    async def create(self, caller: Caller) -> Session:
        now = self._clock.now()
        session_id = secrets.token_urlsafe(32)
        record = ConsoleSession(
            digest=digest(session_id), name=caller.name, scope=caller.scope, created_at=now, last_seen=now
        )
        await self._journal.save_console_session(record, keep=MAX_SESSIONS)
        return self._session(session_id, caller)

    async def get(self, session_id: str | None) -> Session | None:
        """The live session for a cookie value; expired ones are deleted. Unknown ids are None."""
        if not session_id or len(session_id) > 100:
            return None
        key = digest(session_id)
        record = await self._journal.console_session(key)
        if record is None:
            return None
        now = self._clock.now()
        age = (now - record.created_at).total_seconds()
        idle = (now - record.last_seen).total_seconds()
        caller = self._caller(record)
        if age > SESSION_TTL_S or idle > IDLE_TTL_S or caller is None:
            await self.end(session_id)
            return None
        if idle >= TOUCH_EVERY_S:
            await self._journal.touch_console_session(key, now)
        return self._session(session_id, caller)

    async def end(self, session_id: str) -> None:
        key = digest(session_id)
        self._flash.pop(key, None)
        await self._journal.end_console_session(key)

    def _caller(self, record: ConsoleSession) -> Caller | None:
        """Its caller, while a token of that name and scope is still configured."""
        for credential in self._tokens():
            if credential.name == record.name and credential.scope == record.scope:
                return Caller(name=record.name, scope=credential.scope)
        return None

    def _session(self, session_id: str, caller: Caller) -> Session:
        key = digest(session_id)
        flash = self._flash.setdefault(key, [])
        self._flash.move_to_end(key)
        while len(self._flash) > MAX_SESSIONS:
            self._flash.popitem(last=False)
        return Session(id=session_id, caller=caller, csrf=_csrf(session_id), flash=flash)

    # -- throttling failed logins ------------------------------------------------------------------

    def throttled(self, client: str) -> bool:
        """True when `client` failed too many logins in the last minute."""
        window = self._window(client)
        return len(window) >= LOGIN_FAILURES_PER_MINUTE

    def failed(self, client: str) -> None:
        self._window(client).append(self._clock.monotonic())

    def _window(self, client: str) -> deque[float]:
        now = self._clock.monotonic()
        if len(self._failures) > 10_000:  # addresses that stopped trying: forget them
            self._failures = {k: v for k, v in self._failures.items() if v and now - v[-1] < 60}
        window = self._failures.setdefault(client, deque())
        while window and now - window[0] >= 60:
            window.popleft()
        return window
