"""Logging in and out of the console: a bearer token exchanged for a session cookie (with its
CSRF token), on a form that says nothing about which part of a wrong token was wrong.
"""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from remediator.api.apiauth import identify
from remediator.api.console import (
    inputs,
    view_login,
)
from remediator.api.console.context import SESSIONS, Ctx, console, failure, redirect, respond, same_origin
from remediator.api.console.layout import page
from remediator.api.console.sessions import COOKIE, COOKIE_PATH, LOGIN_COOKIE, SESSION_TTL_S
from remediator.api.state import STATE, ApiState
from remediator.logs import get_logger
from remediator.store import JournalUnavailable

log = get_logger("remediator.console")


def _token_sources(state: ApiState) -> list[str]:
    return [f"{t.name} ({t.scope}, {t.describe()})" for t in state.settings.auth.api_tokens]


def _cookie_secure(request: web.Request, state: ApiState) -> bool:
    return request.secure or (state.settings.http.public_url or "").startswith("https://")


def _login_form(request: web.Request, *, next_path: str, error: str = "", status: int = 200) -> web.Response:
    state = request.app[STATE]
    csrf = secrets.token_urlsafe(24)
    body = page(
        title="Log in",
        body=view_login.login_page(
            csrf=csrf, next_path=next_path, error=error, token_sources=_token_sources(state)
        ),
    )
    response = respond(body, status)
    response.set_cookie(
        LOGIN_COOKIE,
        csrf,
        max_age=3600,
        path=COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=_cookie_secure(request, state),
    )
    return response


async def login_get(request: web.Request) -> web.StreamResponse:
    try:
        q = inputs.query(request, ("next",))
    except inputs.BadInput as e:
        return failure(e.status, str(e))
    next_path = inputs.safe_next(q.get("next"))
    try:
        if await request.app[SESSIONS].get(request.cookies.get(COOKIE)) is not None:
            return redirect(next_path)
    except JournalUnavailable:
        pass  # sessions are in the journal: the login form still shows, logging in says what is wrong
    return _login_form(request, next_path=next_path)


async def login_post(request: web.Request) -> web.StreamResponse:
    state, sessions = request.app[STATE], request.app[SESSIONS]
    client = request.remote or "unknown"
    try:
        form = await inputs.form(request, ("token", "csrf", "next"))
    except inputs.BadInput as e:
        return failure(e.status, str(e))
    next_path = inputs.safe_next(form.get("next"))
    if not same_origin(request):
        return failure(403, "this form was posted from another site")
    expected = request.cookies.get(LOGIN_COOKIE, "")
    given = form.get("csrf", "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return _login_form(
            request, next_path=next_path, error="The login form expired: log in again.", status=400
        )
    if sessions.throttled(client):
        log.warning("console: login throttled", client=client)
        return failure(429, "too many failed logins from this address: wait a minute")
    caller = identify(form.get("token", "").strip() or None, state.api_tokens)
    if caller is None:
        sessions.failed(client)
        log.info("console: login refused", client=client)
        return _login_form(
            request,
            next_path=next_path,
            status=401,
            error="Unknown token. Use a token from auth.api_tokens (see below).",
        )
    try:
        session = await sessions.create(caller)
    except JournalUnavailable as e:  # sessions are in the journal
        log.error("console: login not kept, the journal is unavailable", caller=caller.name, error=str(e))
        return failure(503, "the journal cannot be written right now; log in again in a moment")
    log.info("console: logged in", caller=caller.name, scope=caller.scope)
    response = redirect(next_path)
    response.set_cookie(
        COOKIE,
        session.id,
        max_age=int(SESSION_TTL_S),
        path=COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=_cookie_secure(request, state),
    )
    response.del_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
    return response


@console(scope="read")
async def logout(ctx: Ctx) -> web.StreamResponse:
    await ctx.request.app[SESSIONS].end(ctx.session.id)  # JournalUnavailable: a 503, still logged in
    response = redirect("/ui/login")
    response.del_cookie(COOKIE, path=COOKIE_PATH)
    return response
