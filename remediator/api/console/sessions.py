"""Console sessions: a login with an API token, held server-side; CSRF tokens; login throttling.

The token itself never leaves the login request: the browser keeps only a random session id in a
cookie (`HttpOnly`, `SameSite=Strict`, `Secure` when served over TLS, scoped to /ui/), and the
session remembers the token's name and scope, which is what the audit trail records. Each session
has its own CSRF token, sent back in every form and compared in constant time; SameSite=Strict
already keeps the cookie off cross-site requests, the CSRF token covers what it does not (a
same-site page on another port, old browsers).

Sessions live in memory: a restart logs everybody out (they log in again with their token), and
with several replicas the load balancer must keep a browser on one (or each replica asks for a
login). Times come from the injected clock.
"""

from __future__ import annotations

import hmac
import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from remediator.api.apiauth import Caller
from remediator.clock import Clock

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
    created: float
    last_seen: float
    flash: list[tuple[str, str]] = field(default_factory=list)
    """Messages for the next page (kind, text): what a POST did, shown after its redirect."""

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


class SessionStore:
    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._failures: dict[str, deque[float]] = {}

    def create(self, caller: Caller) -> Session:
        now = self._clock.monotonic()
        session = Session(
            id=secrets.token_urlsafe(32),
            caller=caller,
            csrf=secrets.token_urlsafe(32),
            created=now,
            last_seen=now,
        )
        self._sessions[session.id] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session for a cookie value; expired ones are dropped. Unknown ids are None."""
        if not session_id or len(session_id) > 100:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self._clock.monotonic()
        if now - session.created > SESSION_TTL_S or now - session.last_seen > IDLE_TTL_S:
            del self._sessions[session_id]
            return None
        session.last_seen = now
        self._sessions.move_to_end(session_id)
        return session

    def end(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)

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
