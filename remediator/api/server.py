"""Builds the daemon's aiohttp application from an ApiState (webhook_app.py has the parts an intake
process builds its own from)."""

from __future__ import annotations

from aiohttp import web

from remediator.api import health
from remediator.api.console import add_console_routes
from remediator.api.models import PREFIX
from remediator.api.openapi import openapi_document
from remediator.api.routes import add_control_routes
from remediator.api.state import STATE, ApiState
from remediator.api.webhook_app import add_webhook_routes, new_app, runner_for


def make_runner(state: ApiState, *, behind_front: bool = False) -> web.AppRunner:
    """The runner the daemon serves with (see `runner_for`). `behind_front`: it serves only the
    intake process's proxy, on a private Unix socket (intake/front.py). The proxy sends a whole body
    or drops the connection, so nothing is left to drain after an early answer: no lingering, which
    would otherwise keep a dropped connection's handler waiting past shutdown."""
    app = build_web_app(state, behind_front=behind_front)
    return runner_for(app, state.settings.http, lingering=not behind_front)


def build_web_app(state: ApiState, *, behind_front: bool = False) -> web.Application:
    app = new_app(state.settings.http, behind_front=behind_front)
    app[STATE] = state
    if state.webhooks:
        add_webhook_routes(app, state.webhook_state())
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    add_control_routes(app)
    app.router.add_get(PREFIX + "/openapi.json", openapi_document)
    add_console_routes(app)
    return app
