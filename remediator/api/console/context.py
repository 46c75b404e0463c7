"""What every console page goes through: a live session, for a POST the form with its CSRF token
and origin checked, the caller's scope, then the handler with a `Ctx`; and the one way a page
answers (security headers on every response, a one-line reason on every refusal).

Every route answers a malformed request with a 4xx page carrying a one-line reason; refusals of the
override service keep their meaning (404, 409, 422); a journal that cannot be read is a 503.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from aiohttp import web

from remediator.api.apiauth import Scope
from remediator.api.console import inputs, views
from remediator.api.console.html import Html
from remediator.api.console.layout import page
from remediator.api.console.sessions import COOKIE, Session, SessionStore
from remediator.api.refusals import refusal_status
from remediator.api.state import STATE, ApiState
from remediator.logs import get_logger
from remediator.override import OperationRefused, Operator
from remediator.store import JournalUnavailable

log = get_logger("remediator.console")


SESSIONS = web.AppKey("remediator_console_sessions", SessionStore)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
REFRESH_S = 30
MAX_LIST = 100
MAX_PREVIEWS = 20
"""Pending approvals planned against the cluster per page view (each reads the cluster)."""


@dataclass(kw_only=True)
class Ctx:
    request: web.Request
    state: ApiState
    op: Operator
    session: Session
    form: dict[str, str]
    now: datetime

    @property
    def actor(self) -> views.Actor:
        return views.Actor(can_act=self.session.caller.may("admin"), csrf=self.session.csrf)

    def page(
        self, title: str, body: Html, *, active: str = "", refresh: bool = False, pending: int = 0
    ) -> web.Response:
        flash = list(self.session.flash)
        self.session.flash.clear()  # the store holds this list until the next page
        caller = self.session.caller
        return respond(
            page(
                title=title,
                body=body,
                active=active,
                who=(caller.name, caller.scope),
                csrf=self.session.csrf,
                flash=flash,
                refresh_s=REFRESH_S if refresh else 0,
                pending=pending,
            )
        )

    def done(self, where: str, message: str, kind: str = "ok") -> web.Response:
        """After a POST: say what happened on the next page (Post/Redirect/Get)."""
        self.session.flash.append((kind, message))
        return redirect(where)


def respond(body: Html, status: int = 200) -> web.Response:
    return web.Response(
        text=body, status=status, content_type="text/html", charset="utf-8", headers=SECURITY_HEADERS
    )


def redirect(where: str) -> web.Response:
    return web.Response(status=303, headers={**SECURITY_HEADERS, "Location": where})


def failure(status: int, message: str, *, session: Session | None = None) -> web.Response:
    """A one-line reason, as a page (with the navigation when logged in)."""
    first = message.splitlines()[0] if message else "error"
    title = {
        400: "Bad request",
        401: "Not logged in",
        403: "Forbidden",
        404: "Not found",
        409: "Conflict",
        413: "Too large",
        415: "Wrong form encoding",
        422: "Invalid",
        429: "Too many attempts",
        503: "Unavailable",
    }.get(status, "Error")
    who = (session.caller.name, session.caller.scope) if session else None
    body = page(title=title, body=views.error_body(first), who=who, csrf=session.csrf if session else "")
    return respond(body, status)


def same_origin(request: web.Request) -> bool:
    """A POST's Origin, when the browser sends one, must be this site (SameSite covers the rest)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    expected = f"{request.scheme}://{request.host}"
    return hmac.compare_digest(origin.encode(), expected.encode())


Handler = Callable[[Ctx], Awaitable[web.StreamResponse]]


def console(
    *, scope: Scope = "read", fields: tuple[str, ...] = ()
) -> Callable[[Handler], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """A console route: a live session (GET without one: to the login page), for a POST the form
    (`fields` + csrf) with its CSRF token checked, the scope, then the handler."""

    def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.StreamResponse:
            state = request.app[STATE]
            try:
                session = await request.app[SESSIONS].get(request.cookies.get(COOKIE))
            except JournalUnavailable as e:  # sessions are in the journal
                log.error("console: journal unavailable", path=request.path, error=str(e))
                return failure(503, "the journal cannot be read right now; retry in a moment")
            if session is None:
                if request.method == "GET":
                    return redirect("/ui/login?" + urlencode({"next": request.path_qs}))
                return failure(401, "your session ended: log in again, then repeat what you did")
            form: dict[str, str] = {}
            try:
                if request.method == "POST":
                    if not same_origin(request):
                        return failure(403, "this form was posted from another site", session=session)
                    form = await inputs.form(request, (*fields, "csrf"))
                    if not session.csrf_ok(form.pop("csrf", None)):
                        return failure(
                            403, "the form expired (reload the page and try again)", session=session
                        )
                if not session.caller.may(scope):
                    return failure(
                        403,
                        f"token {session.caller.name!r} is read-only: this needs an admin token",
                        session=session,
                    )
                op = state.operator
                if op is None:
                    return failure(503, "the override service is not wired in this process", session=session)
                ctx = Ctx(
                    request=request, state=state, op=op, session=session, form=form, now=state.clock.now()
                )
                return await handler(ctx)
            except inputs.BadInput as e:
                return failure(e.status, str(e), session=session)
            except OperationRefused as e:
                return failure(refusal_status(e), str(e), session=session)
            except JournalUnavailable as e:
                log.error("console: journal unavailable", path=request.path, error=str(e))
                return failure(
                    503, "the journal cannot be read right now; retry in a moment", session=session
                )

        return run

    return wrap
