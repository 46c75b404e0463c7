"""The console's routes: authenticate the session, read input, call the read model or the override
service (the same ones the API uses), render a page; a POST redirects to a page with what it did.

Every route answers a malformed request with a 4xx page carrying a one-line reason; refusals of the
override service keep their meaning (404, 409, 422); a journal that cannot be read is a 503.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlencode

from aiohttp import web

from remediator.api.apiauth import Scope, identify
from remediator.api.console import inputs, views
from remediator.api.console.html import Html
from remediator.api.console.layout import page
from remediator.api.console.sessions import (
    COOKIE,
    COOKIE_PATH,
    LOGIN_COOKIE,
    SESSION_TTL_S,
    Session,
    SessionStore,
)
from remediator.api.console.timeline import incident_page
from remediator.api.errors import refusal_status
from remediator.api.state import STATE, ApiState
from remediator.durations import parse_duration
from remediator.logs import get_logger
from remediator.model import Outcome
from remediator.override import OperationRefused, Operator
from remediator.override.incidents import postmortem_markdown, with_durations
from remediator.store import JournalUnavailable
from remediator.store.readmodel import incident_id

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


@runtime_checkable
class _Deferrals(Protocol):
    async def deferrals(self, *, limit: int = 100) -> list[Any]: ...


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
        flash, self.session.flash = self.session.flash, []
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


def _same_origin(request: web.Request) -> bool:
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
            session = request.app[SESSIONS].get(request.cookies.get(COOKIE))
            if session is None:
                if request.method == "GET":
                    return redirect("/ui/login?" + urlencode({"next": request.path_qs}))
                return failure(401, "your session ended: log in again, then repeat what you did")
            form: dict[str, str] = {}
            try:
                if request.method == "POST":
                    if not _same_origin(request):
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


# -- login ------------------------------------------------------------------------------------------------


def _token_sources(state: ApiState) -> list[str]:
    return [f"{t.name} ({t.scope}, {t.describe()})" for t in state.settings.auth.api_tokens]


def _cookie_secure(request: web.Request, state: ApiState) -> bool:
    return request.secure or (state.settings.http.public_url or "").startswith("https://")


def _login_form(request: web.Request, *, next_path: str, error: str = "", status: int = 200) -> web.Response:
    state = request.app[STATE]
    csrf = secrets.token_urlsafe(24)
    body = page(
        title="Log in",
        body=views.login_page(
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
    if request.app[SESSIONS].get(request.cookies.get(COOKIE)) is not None:
        return redirect(next_path)
    return _login_form(request, next_path=next_path)


async def login_post(request: web.Request) -> web.StreamResponse:
    state, sessions = request.app[STATE], request.app[SESSIONS]
    client = request.remote or "unknown"
    try:
        form = await inputs.form(request, ("token", "csrf", "next"))
    except inputs.BadInput as e:
        return failure(e.status, str(e))
    next_path = inputs.safe_next(form.get("next"))
    if not _same_origin(request):
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
    session = sessions.create(caller)
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
    ctx.request.app[SESSIONS].end(ctx.session.id)
    response = redirect("/ui/login")
    response.del_cookie(COOKIE, path=COOKIE_PATH)
    return response


# -- reading ----------------------------------------------------------------------------------------------


def _mode(ctx: Ctx) -> views.ModeView:
    mode = ctx.state.mode
    paused, per_rule = ctx.op.active_pauses()
    if mode.no_cluster:
        dry_reason: str | None = f"no Kubernetes cluster reachable ({mode.no_cluster})"
    elif mode.dry_run:
        dry_reason = "global dry-run is on"
    else:
        dry_reason = None
    overall = "paused" if paused is not None else "dry-run" if dry_reason else "running"
    return views.ModeView(
        overall=overall,
        paused=paused,
        paused_rules=per_rule,
        dry_run_reason=dry_reason,
        dry_run_rules=sorted(mode.dry_run_rules),
    )


async def _open_incidents(ctx: Ctx) -> list[dict[str, Any]]:
    """Firing incidents, newest first, from the first pages of episodes (status filters after paging)."""
    found: list[dict[str, Any]] = []
    cursor = None
    for _ in range(5):
        page_ = await ctx.op.journal.list_incidents(status="firing", limit=MAX_LIST, cursor=cursor)
        found += page_.items
        cursor = page_.next
        if cursor is None or len(found) >= MAX_LIST:
            break
    return found[:MAX_LIST]


async def _pending(ctx: Ctx) -> list[dict[str, Any]]:
    return await ctx.op.journal.list_approvals(status="pending", limit=MAX_LIST)


@console()
async def now_page(ctx: Ctx) -> web.StreamResponse:
    inputs.query(ctx.request, ())
    journal = ctx.op.journal
    approvals = await _pending(ctx)
    incidents = await _open_incidents(ctx)
    deferrals = await journal.deferrals(limit=MAX_LIST) if isinstance(journal, _Deferrals) else None
    try:
        await journal.ping()
        journal_ok = True
    except Exception:  # the status page must answer even when the journal does not
        journal_ok = False
    health = {
        "backlog": journal.backlog(),
        "journal_ok": journal_ok,
        "kube": ctx.state.kube_ready(),
        "rules": len(ctx.op.rules()),
    }
    breakers = [v for v in ctx.op.breaker_views() if v.state != "closed"]
    body = views.now_page(
        mode=_mode(ctx),
        approvals=approvals,
        incidents=incidents,
        deferrals=deferrals,
        breakers=breakers,
        health=health,
        actor=ctx.actor,
        now=ctx.now,
    )
    return ctx.page("Now", body, active="/ui/", refresh=True, pending=len(approvals))


@console()
async def incidents_page(ctx: Ctx) -> web.StreamResponse:
    q = inputs.query(ctx.request, ("status", "cursor"))
    status = q.get("status", "")
    if status not in ("", "firing", "resolved"):
        raise inputs.BadInput(f"status must be firing or resolved, not {status[:40]!r}")
    try:
        listed = await ctx.op.journal.list_incidents(status=status or None, limit=50, cursor=q.get("cursor"))
    except ValueError as e:  # a cursor we did not give out
        raise inputs.BadInput(str(e)) from None
    body = views.incidents_page(listed.items, status=status, next_cursor=listed.next, now=ctx.now)
    return ctx.page("Incidents", body, active="/ui/incidents", pending=len(await _pending(ctx)))


async def _timeline(ctx: Ctx) -> dict[str, Any]:
    incident = ctx.request.match_info["id"]
    if len(incident) > 300:
        raise inputs.BadInput("incident id too long")
    found = await ctx.op.journal.incident_timeline(incident)
    if found is None:
        raise inputs.BadInput(f"no incident {incident[:200]!r}", 404)
    return with_durations(found, now=ctx.now)


@console()
async def incident(ctx: Ctx) -> web.StreamResponse:
    inputs.query(ctx.request, ())
    timeline = await _timeline(ctx)
    alert_ids = {e.get("alert_id") for e in timeline.get("events", []) if e["type"] == "alert"}
    pending = await _pending(ctx)
    mine = [a for a in pending if a.get("alert_id") in alert_ids]
    body = incident_page(timeline, postmortem=postmortem_markdown(timeline), pending=mine, now=ctx.now)
    return ctx.page(
        str(timeline.get("title") or "Incident"),
        body,
        active="/ui/incidents",
        refresh=True,
        pending=len(pending),
    )


@console()
async def postmortem(ctx: Ctx) -> web.StreamResponse:
    inputs.query(ctx.request, ())
    timeline = await _timeline(ctx)
    return web.Response(
        text=postmortem_markdown(timeline),
        content_type="text/markdown",
        charset="utf-8",
        headers={**SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="postmortem.md"'},
    )


async def _pending_view(ctx: Ctx, approval: dict[str, Any]) -> views.PendingApproval:
    preview = await ctx.op.preview(approval)
    rule = ctx.op.rules().get(approval["rule"])
    alert_id = approval.get("alert_id")
    alert = await ctx.op.journal.get_alert(alert_id) if alert_id is not None else None
    return views.PendingApproval(
        approval=approval,
        preview=preview,
        description=rule.description if rule is not None else "",
        incident=incident_id(alert.fingerprint, alert.starts_at.timestamp()) if alert is not None else None,
        alert_summary=(alert.annotations.get("summary") or alert.name) if alert is not None else "",
    )


@console()
async def approvals_page(ctx: Ctx) -> web.StreamResponse:
    inputs.query(ctx.request, ())
    journal = ctx.op.journal
    pending = await _pending(ctx)
    shown = await asyncio.gather(*(_pending_view(ctx, a) for a in pending[:MAX_PREVIEWS]))
    decided = [a for a in await journal.list_approvals(limit=50) if a["status"] != "pending"][:20]
    body = views.approvals_page(shown, decided, ctx.actor, ctx.now)
    return ctx.page("Approvals", body, active="/ui/approvals", refresh=True, pending=len(pending))


_OUTCOMES = tuple(o.value for o in Outcome)


@console()
async def decisions_page(ctx: Ctx) -> web.StreamResponse:
    q = inputs.query(ctx.request, ("rule", "outcome", "target", "cursor"))
    chosen = {k: q[k].strip() for k in ("rule", "outcome", "target") if q.get(k, "").strip()}
    if chosen.get("outcome") and chosen["outcome"] not in _OUTCOMES:
        raise inputs.BadInput(
            f"outcome must be one of {', '.join(_OUTCOMES)}, not {chosen['outcome'][:40]!r}"
        )
    if len(chosen.get("target", "")) > 300 or len(chosen.get("rule", "")) > 253:
        raise inputs.BadInput("rule or target too long")
    try:
        listed = await ctx.op.journal.list_decisions(
            rule=chosen.get("rule"),
            outcome=chosen.get("outcome"),
            target=chosen.get("target"),
            limit=50,
            cursor=q.get("cursor"),
        )
    except ValueError as e:
        raise inputs.BadInput(str(e)) from None
    body = views.decisions_page(
        listed.items,
        rules=ctx.op.rules().names(),
        outcomes=_OUTCOMES,
        chosen=chosen,
        next_cursor=listed.next,
        now=ctx.now,
    )
    return ctx.page("Decisions", body, active="/ui/decisions", pending=len(await _pending(ctx)))


@console()
async def controls_page(ctx: Ctx) -> web.StreamResponse:
    inputs.query(ctx.request, ())
    body = views.controls_page(mode=_mode(ctx), rules=ctx.op.rules().names(), actor=ctx.actor, now=ctx.now)
    return ctx.page("Controls", body, active="/ui/controls", pending=len(await _pending(ctx)))


@console()
async def audit_page(ctx: Ctx) -> web.StreamResponse:
    q = inputs.query(ctx.request, ("cursor",))
    try:
        listed = await ctx.op.journal.list_audit(limit=50, cursor=q.get("cursor"))
    except ValueError as e:
        raise inputs.BadInput(str(e)) from None
    body = views.audit_page(listed.items, next_cursor=listed.next, now=ctx.now)
    return ctx.page("Audit", body, active="/ui/audit", pending=len(await _pending(ctx)))


# -- changing ---------------------------------------------------------------------------------------------


def _reason(ctx: Ctx, *, required: bool) -> str:
    reason = ctx.form.get("reason", "").strip()
    if required and not reason:
        raise inputs.BadInput("a reason is required: it goes in the audit trail with your name")
    if len(reason) > 2000:
        raise inputs.BadInput("the reason is too long (at most 2000 characters)")
    return reason


def _rule(ctx: Ctx) -> str | None:
    name = ctx.form.get("rule", "").strip()
    return name or None


@console(scope="admin", fields=("reason",))
async def approve(ctx: Ctx) -> web.StreamResponse:
    approval_id = inputs.positive_id(ctx.request.match_info["id"], "approval")
    approval, recorded = await ctx.op.approve(
        actor=ctx.session.caller.name, approval_id=approval_id, reason=_reason(ctx, required=False)
    )
    d = recorded.decision
    started = f"execution #{recorded.execution_id} started" if recorded.execution_id else "nothing runs"
    kind = "ok" if d.acts else "warn"
    return ctx.done(
        "/ui/approvals",
        f"Approved #{approval_id} ({approval['rule']} on {approval['target']}): decided {d.outcome.value}, "
        f"{started}. {d.reason}",
        kind,
    )


@console(scope="admin", fields=("reason",))
async def reject(ctx: Ctx) -> web.StreamResponse:
    approval_id = inputs.positive_id(ctx.request.match_info["id"], "approval")
    approval = await ctx.op.reject(
        actor=ctx.session.caller.name, approval_id=approval_id, reason=_reason(ctx, required=True)
    )
    return ctx.done("/ui/approvals", f"Rejected #{approval_id} ({approval['rule']} on {approval['target']}).")


@console(scope="admin", fields=("rule", "for", "reason"))
async def pause(ctx: Ctx) -> web.StreamResponse:
    reason = _reason(ctx, required=True)
    text = ctx.form.get("for", "").strip()
    for_s = None
    if text:
        try:
            for_s = parse_duration(text)
        except ValueError as e:
            raise inputs.BadInput(f"for: {e}") from None
        if for_s <= 0:
            raise inputs.BadInput("for: a pause must last longer than 0s (choose 'until resumed' for no end)")
    rule = _rule(ctx)
    p = await ctx.op.pause(actor=ctx.session.caller.name, reason=reason, rule=rule, for_s=for_s)
    what = f"rule {rule}" if rule else "everything"
    until = f" until {p.until:%H:%M UTC}" if p.until else " until resumed"
    return ctx.done("/ui/controls", f"Paused {what}{until}.", "warn")


@console(scope="admin", fields=("rule", "reason"))
async def resume(ctx: Ctx) -> web.StreamResponse:
    rule = _rule(ctx)
    lifted = await ctx.op.resume(actor=ctx.session.caller.name, reason=_reason(ctx, required=True), rule=rule)
    what = f"rule {rule}" if rule else "everything"
    return ctx.done("/ui/controls", f"Resumed {what}." if lifted else f"{what} was not paused.")


@console(scope="admin", fields=("rule", "enabled", "reason"))
async def dry_run(ctx: Ctx) -> web.StreamResponse:
    enabled_text = ctx.form.get("enabled", "")
    if enabled_text not in ("on", "off"):
        raise inputs.BadInput(f"enabled must be on or off, not {enabled_text[:20]!r}")
    rule = _rule(ctx)
    changed = await ctx.op.set_dry_run(
        actor=ctx.session.caller.name,
        reason=_reason(ctx, required=True),
        enabled=enabled_text == "on",
        rule=rule,
    )
    what = f"rule {rule}" if rule else "everything"
    note = "" if changed else " (it already was)"
    extra = ""
    if rule is None and enabled_text == "off" and ctx.state.mode.no_cluster:
        extra = f" Every action still runs as dry-run: no Kubernetes cluster ({ctx.state.mode.no_cluster})."
    return ctx.done("/ui/controls", f"Dry-run {enabled_text} for {what}{note}.{extra}", "info")


@console(scope="admin", fields=("key", "reason"))
async def reset_breaker(ctx: Ctx) -> web.StreamResponse:
    key = ctx.form.get("key", "")
    was = await ctx.op.reset_breaker(
        actor=ctx.session.caller.name, reason=_reason(ctx, required=True), key=key
    )
    return ctx.done("/ui/", f"Breaker {was.rule} → {was.target} reset (it was {was.state}).")


# -- static -------------------------------------------------------------------------------------------------


def _static(name: str, content_type: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    body = resources.files("remediator.api.console").joinpath("static", name).read_bytes()

    async def serve(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=body,
            content_type=content_type,
            headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"},
        )

    return serve


async def to_console(request: web.Request) -> web.StreamResponse:
    return redirect("/ui/")


def add_console_routes(app: web.Application) -> None:
    """Register /ui/; `app[STATE]` must be set (its clock times the sessions)."""
    app[SESSIONS] = SessionStore(clock=app[STATE].clock)
    r = app.router
    r.add_get("/ui", to_console)
    r.add_get("/ui/", now_page)
    r.add_get("/ui/login", login_get)
    r.add_post("/ui/login", login_post)
    r.add_post("/ui/logout", logout)
    r.add_get("/ui/incidents", incidents_page)
    r.add_get("/ui/incidents/{id}", incident)
    r.add_get("/ui/incidents/{id}/postmortem.md", postmortem)
    r.add_get("/ui/approvals", approvals_page)
    r.add_post("/ui/approvals/{id}/approve", approve)
    r.add_post("/ui/approvals/{id}/reject", reject)
    r.add_get("/ui/decisions", decisions_page)
    r.add_get("/ui/controls", controls_page)
    r.add_post("/ui/pause", pause)
    r.add_post("/ui/resume", resume)
    r.add_post("/ui/dry-run", dry_run)
    r.add_post("/ui/breakers/reset", reset_breaker)
    r.add_get("/ui/audit", audit_page)
    r.add_get("/ui/static/console.css", _static("console.css", "text/css"))
    r.add_get("/ui/static/console.js", _static("console.js", "text/javascript"))
