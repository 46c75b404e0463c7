"""The console's route table under /ui/ and its static files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources

from aiohttp import web

from remediator.api.console.changes import approve, dry_run, pause, reject, reset_breaker, resume
from remediator.api.console.context import SESSIONS, redirect
from remediator.api.console.login import login_get, login_post, logout
from remediator.api.console.pages import (
    approvals_page,
    audit_page,
    controls_page,
    decisions_page,
    incident,
    incidents_page,
    now_page,
    postmortem,
)
from remediator.api.console.sessions import SessionStore
from remediator.api.state import STATE
from remediator.logs import get_logger

log = get_logger("remediator.console")


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
    state = app[STATE]
    app[SESSIONS] = SessionStore(clock=state.clock, journal=state.sessions, tokens=lambda: state.api_tokens)
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
