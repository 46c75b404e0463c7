"""Who is calling the override API, and may they: bearer tokens with a `read` or `admin` scope.

Tokens come from the config (`auth.api_tokens`, resolved at start-up into ApiState.api_tokens as
`ApiCredential`s: the secret, a name and a scope). The name is what the audit trail records, so
every change has a person (or a robot account) on it. Comparison is constant-time against every
configured token, so the answer time says nothing about how much of a guess was right, nor which
token it was close to.

401: no token or an unknown one (with `WWW-Authenticate`), naming where this daemon reads its tokens
from (the variables, never a value); 403: a read token on an admin endpoint.
Admin endpoints need a token even on 127.0.0.1: a pause is a production change.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from remediator.api.auth import ApiCredential, bearer
from remediator.api.errors import error_response
from remediator.api.state import STATE
from remediator.config import Settings
from remediator.logs import get_logger

log = get_logger("remediator.api")

Scope = Literal["read", "admin"]
_RANK = {"read": 0, "admin": 1}


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller:
    name: str
    scope: Scope

    def may(self, scope: Scope) -> bool:
        return _RANK[self.scope] >= _RANK[scope]


AuthedHandler = Callable[[web.Request, Caller], Awaitable[web.StreamResponse]]


def identify(provided: str | None, tokens: tuple[ApiCredential, ...]) -> Caller | None:
    """The caller a bearer token belongs to. Every token is compared, whatever matched before."""
    if provided is None:
        return None
    found: Caller | None = None
    for token in tokens:
        if token.secret.matches(provided) and found is None:
            found = Caller(name=token.name, scope=token.scope)
    return found


def token_sources(settings: Settings) -> str:
    """Where the API tokens come from, for people: `env REMEDIATOR_ADMIN_TOKEN (admin), ...`."""
    refs = settings.auth.api_tokens
    if not refs:
        return "none: auth.api_tokens is empty in the config"
    return ", ".join(f"{t.describe()} ({t.scope})" for t in refs)


def forbidden(caller: Caller, what: str) -> web.Response:
    log.info("api request forbidden", caller=caller.name, scope=caller.scope, what=what)
    return error_response(
        403, f"token {caller.name!r} has scope {caller.scope!r}; {what} needs an admin token"
    )


def requires(
    scope: Scope,
) -> Callable[[AuthedHandler], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """Wrap a handler `(request, caller)` so it runs only for a token with at least `scope`."""

    def wrap(handler: AuthedHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            state = request.app[STATE]
            caller = identify(bearer(request), state.api_tokens)
            if caller is None:
                reason = "missing bearer token" if bearer(request) is None else "unknown bearer token"
                log.info("api request unauthenticated", path=request.path, reason=reason)
                configured = "" if state.api_tokens else " (none is set: the daemon has no API token yet)"
                return error_response(
                    401,
                    f"{reason}; send 'Authorization: Bearer <token>' (remediator ctl sends "
                    f"$REMEDIATOR_TOKEN) with a token this daemon reads from "
                    f"{token_sources(state.settings)}{configured}",
                    headers={"WWW-Authenticate": 'Bearer realm="remediator"'},
                )
            if not caller.may(scope):
                return forbidden(caller, f"{request.method} {request.path}")
            return await handler(request, caller)

        return checked

    return wrap
